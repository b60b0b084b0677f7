package testpeer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DendriteServerName is the server name of the homeservers Dendrite starts:
// user ids look like "@alice:localhost".
const DendriteServerName = "localhost"

// dendriteStartTimeout bounds how long Dendrite may take to answer
// /_matrix/client/versions (about 0.5 s cold on a quiet machine).
const dendriteStartTimeout = 60 * time.Second

// Homeserver is a real Matrix homeserver (Dendrite) on loopback, started for
// one test by Dendrite.
type Homeserver struct {
	// URL is the client-server API base URL ("http://127.0.0.1:PORT").
	URL string
	// ServerName is the homeserver's name, the part after ':' in user ids.
	ServerName string

	secret string
	client *http.Client
}

// DendriteOption changes how Dendrite starts.
type DendriteOption func(*dendriteOptions)

type dendriteOptions struct {
	appservices []string // registration files
}

// WithAppservice makes Dendrite load the appservice registration file at
// path (app_service_api.config_files). The file must exist when Dendrite
// starts, and the appservice should already be listening: Dendrite backs
// off for up to 64 s when it does not answer a transaction.
func WithAppservice(path string) DendriteOption {
	return func(o *dendriteOptions) { o.appservices = append(o.appservices, path) }
}

// Dendrite starts a Dendrite homeserver on 127.0.0.1 with a free port, in a
// fresh t.TempDir() (SQLite databases, in-memory JetStream, federation off,
// registration only through the shared-secret admin API, rate limits off)
// and stops it when the test ends.
//
// The binary is $CHATBRIDGE_DENDRITE, else $HOME/.cache/chatbridge/bin/dendrite
// (where scripts/install-test-deps puts it), else "dendrite" on PATH. When
// there is none the test is skipped with a message saying how to install it,
// except when the environment variable CI is "true": then the test fails,
// because real-homeserver tests must never be skipped silently in CI.
func Dendrite(t testing.TB, opts ...DendriteOption) *Homeserver {
	t.Helper()
	var o dendriteOptions
	for _, opt := range opts {
		opt(&o)
	}
	for i, p := range o.appservices {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("dendrite: appservice %s: %v", p, err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("dendrite: appservice registration: %v", err)
		}
		o.appservices[i] = abs
	}
	bin := findDendrite()
	if bin == "" {
		msg := "no dendrite binary found ($CHATBRIDGE_DENDRITE, $HOME/.cache/chatbridge/bin/dendrite, PATH); run scripts/install-test-deps to build it"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	secret := hex.EncodeToString(randomBytes(t, 16))
	if err := writeDendriteFiles(dir, secret, randomBytes(t, ed25519.SeedSize), o.appservices); err != nil {
		t.Fatalf("dendrite: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("dendrite: %v", err)
	}
	logPath := filepath.Join(dir, "dendrite.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("dendrite: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "dendrite.yaml"), "-http-bind-address", addr)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start dendrite %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	hs := &Homeserver{
		URL:        "http://" + addr,
		ServerName: DendriteServerName,
		secret:     secret,
		client:     &http.Client{Timeout: 30 * time.Second},
	}
	deadline := time.Now().Add(dendriteStartTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !hs.ready() {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("dendrite exited before it was ready (%v); log:\n%s", err, tail(logPath))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dendrite not ready on %s after %s; log:\n%s", addr, dendriteStartTimeout, tail(logPath))
		}
	}
	return hs
}

// Register creates a (non-admin) user with the shared-secret admin API and
// returns its user id and an access token. The password must have at least
// 8 characters.
func (hs *Homeserver) Register(t testing.TB, localpart, password string) (userID, accessToken string) {
	t.Helper()
	userID, accessToken, err := hs.register(context.Background(), localpart, password)
	if err != nil {
		t.Fatalf("register %s: %v", localpart, err)
	}
	return userID, accessToken
}

func (hs *Homeserver) register(ctx context.Context, localpart, password string) (string, string, error) {
	const path = "/_synapse/admin/v1/register"
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := hs.call(ctx, http.MethodGet, path, nil, &nonce); err != nil {
		return "", "", fmt.Errorf("get nonce: %w", err)
	}
	mac := hmac.New(sha1.New, []byte(hs.secret))
	mac.Write([]byte(nonce.Nonce + "\x00" + localpart + "\x00" + password + "\x00notadmin"))
	req := map[string]any{
		"nonce": nonce.Nonce, "username": localpart, "password": password,
		"admin": false, "mac": hex.EncodeToString(mac.Sum(nil)),
	}
	var reg struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	if err := hs.call(ctx, http.MethodPost, path, req, &reg); err != nil {
		return "", "", fmt.Errorf("register: %w", err)
	}
	if reg.UserID == "" {
		reg.UserID = "@" + localpart + ":" + hs.ServerName
	}
	if reg.AccessToken != "" {
		return reg.UserID, reg.AccessToken, nil
	}
	login := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": localpart},
		"password":   password,
	}
	if err := hs.call(ctx, http.MethodPost, "/_matrix/client/v3/login", login, &reg); err != nil {
		return "", "", fmt.Errorf("login: %w", err)
	}
	return reg.UserID, reg.AccessToken, nil
}

// call sends a JSON request and decodes a 2xx JSON answer into out.
func (hs *Homeserver) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, hs.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hs.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// ready reports whether the homeserver answers /_matrix/client/versions.
func (hs *Homeserver) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var v struct {
		Versions []string `json:"versions"`
	}
	return hs.call(ctx, http.MethodGet, "/_matrix/client/versions", nil, &v) == nil && len(v.Versions) > 0
}

// writeDendriteFiles writes the signing key and dendrite.yaml into dir;
// appservices are the registration files to load.
func writeDendriteFiles(dir, secret string, seed []byte, appservices []string) error {
	// The PEM Dendrite's generate-keys writes: the ed25519 seed under a
	// Key-ID header.
	key := pem.EncodeToMemory(&pem.Block{
		Type:    "MATRIX PRIVATE KEY",
		Headers: map[string]string{"Key-ID": "ed25519:test"},
		Bytes:   seed,
	})
	if err := os.WriteFile(filepath.Join(dir, "matrix_key.pem"), key, 0o600); err != nil {
		return fmt.Errorf("write signing key: %w", err)
	}
	db := func(component string) string {
		return fmt.Sprintf("{connection_string: %q}", "file:"+filepath.Join(dir, component+".db"))
	}
	config := fmt.Sprintf(`version: 2
global:
  server_name: %s
  private_key: %s
  disable_federation: true
  jetstream: {in_memory: true, storage_path: %s}
  report_stats: {enabled: false}
  presence: {enable_inbound: false, enable_outbound: false}
client_api:
  registration_disabled: true
  registration_shared_secret: %q
  rate_limiting: {enabled: false}
federation_api: {database: %s}
key_server: {database: %s}
media_api: {database: %s, base_path: %s}
mscs: {database: %s}
relay_api: {database: %s}
room_server: {database: %s}
sync_api: {database: %s}
user_api: {account_database: %s, bcrypt_cost: 4}
logging:
  - {type: std, level: warn}
`, DendriteServerName, filepath.Join(dir, "matrix_key.pem"), filepath.Join(dir, "jetstream"), secret,
		db("federation_api"), db("key_server"), db("media_api"), filepath.Join(dir, "media"),
		db("mscs"), db("relay_api"), db("room_server"), db("sync_api"), db("user_api"))
	if len(appservices) > 0 {
		files, err := json.Marshal(appservices) // a JSON list is a YAML flow sequence
		if err != nil {
			return fmt.Errorf("write config: %w", err)
		}
		config += fmt.Sprintf("app_service_api: {config_files: %s}\n", files)
	}
	if err := os.WriteFile(filepath.Join(dir, "dendrite.yaml"), []byte(config), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

func findDendrite() string {
	if p := os.Getenv("CHATBRIDGE_DENDRITE"); p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "chatbridge", "bin", "dendrite")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("dendrite"); err == nil {
		return p
	}
	return ""
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// tail returns the last lines of a log file for failure messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
