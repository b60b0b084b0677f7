package visitor_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
	"github.com/chatbridge/chatbridge/visitor"
)

// widgetBudget is DESIGN.md §7's target for the widget with file upload,
// JS + CSS gzipped (the upload code, fetched only when a visitor attaches a
// file, has its own budget).
const (
	widgetBudget      = 10 * 1024
	widgetFilesBudget = 2 * 1024
)

func gzipSize(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// The embedded script and stylesheet, and the script as served (with the
// settings and CSS inlined), stay within the size budget.
func TestWidgetSizeBudget(t *testing.T) {
	var src []byte
	for _, f := range []string{"assets/widget.js", "assets/widget.css"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	size := gzipSize(t, src)
	t.Logf("widget.js + widget.css: %d bytes, %d gzipped (budget %d)", len(src), size, widgetBudget)
	if size > widgetBudget {
		t.Errorf("widget.js + widget.css is %d bytes gzipped, over the %d byte budget", size, widgetBudget)
	}
	e := newWidgetEnv(t, visitor.DefaultWidgetConfig())
	res := e.get(t, "/widget.js", map[string]string{"Accept-Encoding": "gzip"})
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("served without gzip: %v", res.Header)
	}
	served := readAll(t, res)
	t.Logf("served /widget.js: %d bytes gzipped", len(served))
	if len(served) > widgetBudget {
		t.Errorf("served /widget.js is %d bytes gzipped, over the %d byte budget", len(served), widgetBudget)
	}
	res = e.get(t, "/widget-files.js", map[string]string{"Accept-Encoding": "gzip"})
	files := readAll(t, res)
	t.Logf("served /widget-files.js (fetched on the first file): %d bytes gzipped", len(files))
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "gzip" || len(files) > widgetFilesBudget {
		t.Errorf("served /widget-files.js: status %d, %d bytes gzipped (budget %d)", res.StatusCode, len(files), widgetFilesBudget)
	}
}

// widgetEnv serves the visitor API and a Widget on one mux, as serve does.
type widgetEnv struct {
	engine *bridge.Engine
	ts     *httptest.Server
}

func newWidgetEnv(t *testing.T, cfg visitor.WidgetConfig) *widgetEnv {
	t.Helper()
	e := &widgetEnv{engine: fixture.Engine(t, fixture.Options{NoRun: true})}
	vs, err := visitor.New(visitor.Config{PublicURL: cfg.PublicURL, AllowedOrigins: cfg.AllowedOrigins}, e.engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := visitor.NewWidget(cfg, e.engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", vs.Handler())
	w.Mount(mux)
	e.ts = httptest.NewServer(mux)
	t.Cleanup(func() { vs.Close(); e.ts.Close() })
	return e
}

func (e *widgetEnv) do(t *testing.T, method, path, body string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A transport of its own: the default one would add and strip gzip.
	res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	return res
}

func (e *widgetEnv) get(t *testing.T, path string, header map[string]string) *http.Response {
	t.Helper()
	return e.do(t, http.MethodGet, path, "", header)
}

func readAll(t *testing.T, res *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWidgetScriptIsServedWithSettings(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.Color = "#ff8800"
	cfg.Title = `Help </script><script>alert(1)</script>`
	cfg.OfflineAfter = 90 * time.Second
	e := newWidgetEnv(t, cfg)

	res := e.get(t, "/widget.js", nil)
	plain := readAll(t, res)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /widget.js: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{`"color":"#ff8800"`, `"offline_after":90`, `.bub{`, `attachShadow`} {
		if !bytes.Contains(plain, []byte(want)) {
			t.Errorf("script lacks %q", want)
		}
	}
	for _, bad := range []string{"/*CFG*/", "/*CSS*/", "</script>"} {
		if bytes.Contains(plain, []byte(bad)) {
			t.Errorf("script contains %q", bad)
		}
	}

	gz := e.get(t, "/widget.js", map[string]string{"Accept-Encoding": "br, gzip"})
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, plain) {
		t.Fatalf("gzipped script differs from the plain one (err %v)", err)
	}

	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if again := e.get(t, "/widget.js", map[string]string{"If-None-Match": etag}); again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", again.StatusCode)
	}
}

func TestWidgetConfigEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*visitor.WidgetConfig)
		want map[string]any
	}{
		{"defaults", func(*visitor.WidgetConfig) {}, map[string]any{
			"color": "#2563eb", "position": "right", "prechat_name": "optional", "prechat_email": "optional",
			"offline_after": 120.0, "sound": true, "title": nil, "greeting": nil, "language": nil,
		}},
		{"custom", func(c *visitor.WidgetConfig) {
			c.Title, c.Greeting, c.Position, c.PrechatEmail, c.Language, c.Sound = "Talk to us", "Bonjour", "left", "required", "fr", false
		}, map[string]any{
			"title": "Talk to us", "greeting": "Bonjour", "position": "left", "prechat_email": "required", "language": "fr", "sound": false,
		}},
		{"offline prompt off", func(c *visitor.WidgetConfig) { c.OfflineAfter = -1 }, map[string]any{"offline_after": 0.0}},
		{"zero values take defaults", func(c *visitor.WidgetConfig) { *c = visitor.WidgetConfig{} }, map[string]any{
			"color": "#2563eb", "position": "right", "offline_after": 120.0, "sound": false,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := visitor.DefaultWidgetConfig()
			tc.mod(&cfg)
			e := newWidgetEnv(t, cfg)
			res := e.get(t, "/api/v1/widget/config", nil)
			var got map[string]any
			if err := json.Unmarshal(readAll(t, res), &got); err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, err %v", res.StatusCode, err)
			}
			for k, want := range tc.want {
				if v, ok := got[k]; want == nil && ok || want != nil && v != want {
					t.Errorf("%s = %#v, want %#v", k, v, want)
				}
			}
		})
	}
}

func TestWidgetConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*visitor.WidgetConfig)
		want []string
	}{
		{"defaults", func(*visitor.WidgetConfig) {}, nil},
		{"empty", func(c *visitor.WidgetConfig) { *c = visitor.WidgetConfig{} }, nil},
		{"colour name", func(c *visitor.WidgetConfig) { c.Color = "red" }, []string{"widget.color"}},
		{"colour injection", func(c *visitor.WidgetConfig) { c.Color = "#fff;background:url(x)" }, []string{"widget.color"}},
		{"position", func(c *visitor.WidgetConfig) { c.Position = "top" }, []string{"widget.position"}},
		{"prechat", func(c *visitor.WidgetConfig) { c.PrechatName, c.PrechatEmail = "yes", "maybe" }, []string{"widget.prechat_name", "widget.prechat_email"}},
		{"language", func(c *visitor.WidgetConfig) { c.Language = "de" }, []string{"widget.language"}},
		{"long title", func(c *visitor.WidgetConfig) { c.Title = strings.Repeat("x", 501) }, []string{"widget.title"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := visitor.DefaultWidgetConfig()
			tc.mod(&cfg)
			errs := cfg.Validate()
			if len(errs) != len(tc.want) {
				t.Fatalf("Validate = %v, want errors naming %v", errs, tc.want)
			}
			for _, key := range tc.want {
				found := false
				for _, err := range errs {
					found = found || strings.HasPrefix(err.Error(), key+":")
				}
				if !found {
					t.Errorf("no error names %s: %v", key, errs)
				}
			}
			if _, err := visitor.NewWidget(cfg, nil, nil); (err != nil) != (len(tc.want) > 0) {
				t.Errorf("NewWidget error = %v", err)
			}
		})
	}
}

func TestDemoPage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		demo   bool
		path   string
		status int
	}{
		{"home", true, "/", http.StatusOK},
		{"product", true, "/demo/product/2", http.StatusOK},
		{"demo root", true, "/demo/", http.StatusOK},
		{"unknown demo path", true, "/demo/admin", http.StatusNotFound},
		{"disabled", false, "/", http.StatusNotFound},
		{"disabled product", false, "/demo/product/1", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := visitor.DefaultWidgetConfig()
			cfg.DemoPage = tc.demo
			e := newWidgetEnv(t, cfg)
			res := e.get(t, tc.path, nil)
			body := string(readAll(t, res))
			if res.StatusCode != tc.status {
				t.Fatalf("GET %s: %d, want %d", tc.path, res.StatusCode, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			for _, want := range []string{`<script src="/widget.js" async></script>`, "Demo Shop", `href="/inbox"`, `href="/demo/product/1"`} {
				if !strings.Contains(body, want) {
					t.Errorf("demo page lacks %q", want)
				}
			}
		})
	}
}

// Server.Handler alone serves a default widget; a Widget mounted on an
// outer mux takes precedence.
func TestServerHandlerServesDefaultWidget(t *testing.T) {
	engine := fixture.Engine(t, fixture.Options{NoRun: true})
	vs, err := visitor.New(visitor.Config{}, engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vs.Close)
	inner := httptest.NewServer(vs.Handler())
	t.Cleanup(inner.Close)
	res, err := http.Get(inner.URL + "/widget.js")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"color":"#2563eb"`)) {
		t.Fatalf("default widget: %d", res.StatusCode)
	}

	cfg := visitor.DefaultWidgetConfig()
	cfg.Color = "#123456"
	e := newWidgetEnv(t, cfg)
	if b := readAll(t, e.get(t, "/widget.js", nil)); !bytes.Contains(b, []byte(`"color":"#123456"`)) {
		t.Fatal("the mounted widget did not take precedence")
	}
}

func TestResumeEndpoint(t *testing.T) {
	var visitorID string
	cfg := visitor.DefaultWidgetConfig()
	cfg.PublicURL = "https://chat.example.com"
	cfg.AllowedOrigins = []string{"https://shop.example.com"}
	cfg.Resume = func(_ context.Context, code string) (string, error) {
		switch code {
		case "good":
			return visitorID, nil
		case "gone":
			return "v_deleted", nil
		case "used":
			return "", fmt.Errorf("resume code: %w", bridge.ErrAlreadyUsed)
		}
		return "", errors.New("bad code")
	}
	e := newWidgetEnv(t, cfg)
	_, v, err := e.engine.StartSession(context.Background(), bridge.SessionInput{Name: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	visitorID = v.ID
	const path = "/api/v1/sessions/resume"
	for _, tc := range []struct {
		name, method, body, origin string
		status                     int
	}{
		{"valid", http.MethodPost, `{"code":"good"}`, "", http.StatusCreated},
		{"valid from the site", http.MethodPost, `{"code":"good"}`, "https://shop.example.com", http.StatusCreated},
		{"bad code", http.MethodPost, `{"code":"forged"}`, "", http.StatusUnauthorized},
		{"unknown visitor", http.MethodPost, `{"code":"gone"}`, "", http.StatusUnauthorized},
		{"used before", http.MethodPost, `{"code":"used"}`, "", http.StatusGone},
		{"no code", http.MethodPost, `{}`, "", http.StatusBadRequest},
		{"not json", http.MethodPost, `code=good`, "", http.StatusBadRequest},
		{"get", http.MethodGet, ``, "", http.StatusMethodNotAllowed},
		{"preflight", http.MethodOptions, ``, "https://shop.example.com", http.StatusNoContent},
		{"foreign origin", http.MethodPost, `{"code":"good"}`, "https://evil.example", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			if tc.origin != "" {
				h["Origin"] = tc.origin
			}
			res := e.do(t, tc.method, path, tc.body, h)
			body := readAll(t, res)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.origin != "" && tc.status != http.StatusForbidden && res.Header.Get("Access-Control-Allow-Origin") != tc.origin {
				t.Errorf("CORS header = %q", res.Header.Get("Access-Control-Allow-Origin"))
			}
			if tc.status >= 400 {
				var eb struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" {
					t.Errorf("error body %s is not {error:{code,message}}", body)
				}
				if tc.status == http.StatusGone && (eb.Error.Code != visitor.CodeResumeUsed || !strings.Contains(eb.Error.Message, "already used")) {
					t.Errorf("used link: error %+v, want code %s saying it was already used", eb.Error, visitor.CodeResumeUsed)
				}
				return
			}
			if tc.status != http.StatusCreated {
				return
			}
			var got struct{ Token, VisitorID string }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got, err := e.engine.Authenticate(context.Background(), got.Token); err != nil || got.ID != visitorID {
				t.Fatalf("token authenticates %q, %v; want %s", got.ID, err, visitorID)
			}
		})
	}
}
