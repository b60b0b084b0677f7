package config

import (
	"fmt"
	"net/url"
)

// Warnings lists the settings that are valid but unsafe for the server
// this configuration describes: one that others reach (a public_url on
// another machine, or a listen address on every interface). A trial on
// one's own machine (loopback listen, no public_url) gets none. `serve`
// logs them at start and `config check` prints them; neither refuses to
// run.
//
// What is checked, in this order:
//   - server.public_url in plain http on a host other than this machine;
//   - server.public_url empty while server.listen accepts other machines;
//   - server.demo_page = true on a server others reach;
//   - server.admin_listen on an address other machines reach (the
//     operations endpoints have no authentication);
//   - visitor.allowed_origins empty on a server others reach;
//   - visitor.trust_proxy_headers off while an https public_url says a
//     TLS proxy is in front (every client then shares the proxy's
//     address), or on while server.listen accepts other machines
//     directly (a client could then pick its own address);
//   - email.tls = "none" to an SMTP host that is not this machine;
//   - the inbox enabled with no [[inbox.operators]];
//   - files.storage = "dir" in cluster mode (store.backend = "etcd"), where
//     each node would keep the files it received to itself.
func (c Config) Warnings() []FieldError {
	var out []FieldError
	warn := func(path, format string, args ...any) {
		out = append(out, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	s := c.Server
	listenHost := hostOf(s.Listen)
	localListen := IsLoopbackHost(listenHost)
	var pub *url.URL
	if s.PublicURL != "" {
		pub, _ = url.Parse(s.PublicURL)
	}
	localPublic := pub == nil || IsLoopbackHost(pub.Hostname())
	if localListen && localPublic {
		return nil // a trial on this machine
	}
	if pub != nil && pub.Scheme == "http" && !localPublic {
		warn("server.public_url", "%s is plain http: inbox passwords, session cookies and visitor tokens cross the network unencrypted; serve it through a TLS reverse proxy and use an https URL", s.PublicURL)
	}
	if pub == nil && !localListen {
		warn("server.public_url", "is empty while server.listen (%s) accepts connections from other machines: links in e-mails and the inbox point to %s; set the URL people reach", s.Listen, s.BaseURL())
	}
	if s.DemoPage == ToggleOn {
		warn("server.demo_page", "is true: the demo shop is served at %s/ to anyone; set it to \"auto\" or false", s.BaseURL())
	}
	if s.AdminListen != "" && !IsLoopbackHost(hostOf(s.AdminListen)) {
		warn("server.admin_listen", "%s is reachable from other machines, and /metrics and the detailed /healthz have no authentication; listen on 127.0.0.1 or firewall the port", s.AdminListen)
	}
	if len(c.Visitor.AllowedOrigins) == 0 {
		warn("visitor.allowed_origins", "is empty: only pages served from %s itself can use the widget; list the sites that embed it", s.BaseURL())
	}
	switch {
	case !c.Visitor.TrustProxyHeaders && pub != nil && pub.Scheme == "https": // chatbridge serves no TLS itself
		warn("visitor.trust_proxy_headers", "is false behind the TLS proxy of %s: every client then counts as the proxy's address for the per-IP limits and the inbox's login limits; set it to true if the proxy sets X-Forwarded-For", s.PublicURL)
	case c.Visitor.TrustProxyHeaders && !localListen:
		warn("visitor.trust_proxy_headers", "is true while server.listen (%s) accepts connections from other machines: a client that reaches the port directly can choose its own address; listen on 127.0.0.1 behind the proxy, or firewall the port", s.Listen)
	}
	if c.Email.Enabled() && c.Email.TLSMode() == TLSNone && !IsLoopbackHost(c.Email.Host) {
		warn("email.tls", "is \"none\": e-mails (and the SMTP password) go to %s unencrypted", c.Email.Host)
	}
	if c.Inbox.Enabled && len(c.Inbox.Operators) == 0 {
		warn("inbox.operators", "none configured: nobody can log in to the inbox (a temporary password is shown only on a terminal); add one with `chatbridge inbox add-operator <login>`")
	}
	if c.Store.Etcd() && c.Files.Storage == "dir" {
		warn("files.storage", `is "dir" with store.backend = "etcd": each node keeps the files it received in its own directory, so the other nodes cannot serve them; use storage = "s3" (see docs/STORAGE.md)`)
	}
	return out
}
