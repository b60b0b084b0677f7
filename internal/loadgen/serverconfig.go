package loadgen

import (
	"bytes"
	"fmt"
	"strconv"
	"text/template"

	"golang.org/x/crypto/bcrypt"
)

// ServerConfigOptions fill in the benchmark server's configuration.
type ServerConfigOptions struct {
	// Listen is server.listen ("127.0.0.1:8080").
	Listen string
	// AdminListen is server.admin_listen, where /metrics is served
	// ("127.0.0.1:9191"); empty keeps the shipped default.
	AdminListen string
	// DataDir is server.data_dir; start every measured run on a fresh one.
	DataDir string
	// Origin is the one visitor.allowed_origins entry (the bench's --origin).
	Origin string
	// OperatorLogin and OperatorPassword become the one inbox operator.
	OperatorLogin, OperatorPassword string
	// PasswordComment writes the password into a comment, for a password
	// the command generated itself.
	PasswordComment bool
}

// BenchLimit is what every visitor limit is raised to: all the benchmark's
// load comes from one address, which the shipped limits rightly refuse
// after a few dozen sessions.
const BenchLimit = 10_000_000

var serverConfigTmpl = template.Must(template.New("bench.toml").Parse(`# chatbridge configuration for ` + "`chatbridge bench`" + ` (printed by ` + "`chatbridge bench --print-config`" + `).
#
# NOT FOR PRODUCTION: every visitor limit is raised so that one address
# (the load generator on 127.0.0.1) may open thousands of sessions,
# conversations and WebSockets and send thousands of messages a second.
# Everything else keeps its shipped default, durability included: every
# message is acknowledged after fsync. Start each measured run on an empty
# data_dir.
#
#   chatbridge serve --config bench.toml
#   chatbridge bench latency --rate 1000 --reply-rate 1000 --conversations 5000 --pid $(pgrep -n chatbridge)
{{- if .PasswordComment}}
#
# The inbox operator below was generated with this file; the bench logs in with
#   --operator {{.Login}}:{{.Password}}   (or CHATBRIDGE_BENCH_OPERATOR={{.Login}}:{{.Password}})
{{- end}}

[server]
listen = {{.Listen}}
data_dir = {{.DataDir}}
demo_page = false
{{- if .AdminListen}}
# /metrics, which the bench reads (--metrics-url), is served here only.
admin_listen = {{.AdminListen}}
{{- end}}
# Go's profiles at /debug/pprof/ on admin_listen, e.g.
#   go tool pprof http://<admin_listen>/debug/pprof/profile?seconds=10
pprof = true

[log]
# Per-request logging would measure the log, not the server.
level = "warn"

[visitor]
# The bench sends this Origin (--origin).
allowed_origins = [{{.Origin}}]
messages_per_minute = {{.Limit}}
sessions_per_ip_per_hour = {{.Limit}}
conversations_per_ip_per_day = {{.Limit}}
pageviews_per_minute = {{.Limit}}
visitor_updates_per_minute = {{.Limit}}
# Idle mode opens up to 19,000 WebSockets from one address; each visitor
# has one.
max_conns_per_ip = {{.Limit}}

[inbox]
enabled = true

[[inbox.operators]]
login = {{.LoginQ}}
name = "Bench Operator"
password_hash = {{.Hash}}
`))

// ServerConfig returns a bridge.toml for a server under benchmark: the
// visitor limits raised to BenchLimit, the bench's origin allowed, one
// inbox operator with the given password, logging at warn, no demo page.
func ServerConfig(o ServerConfigOptions) ([]byte, error) {
	if o.OperatorLogin == "" || o.OperatorPassword == "" {
		return nil, fmt.Errorf("server config: an operator login and password are needed")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(o.OperatorPassword), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	var b bytes.Buffer
	err = serverConfigTmpl.Execute(&b, map[string]any{
		"Listen": strconv.Quote(o.Listen), "AdminListen": quoteIf(o.AdminListen), "DataDir": strconv.Quote(o.DataDir), "Origin": strconv.Quote(o.Origin),
		"Limit": BenchLimit, "Login": o.OperatorLogin, "LoginQ": strconv.Quote(o.OperatorLogin),
		"Password": o.OperatorPassword, "PasswordComment": o.PasswordComment, "Hash": strconv.Quote(string(hash)),
	})
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	return b.Bytes(), nil
}

func quoteIf(s string) string {
	if s == "" {
		return ""
	}
	return strconv.Quote(s)
}
