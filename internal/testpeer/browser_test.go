package testpeer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowserTabs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>peer</title><p id="p">` + r.URL.Path + `</p>`))
	}))
	defer srv.Close()

	first := Browser(t)
	second := NewTab(t, first)
	for _, c := range []struct {
		name string
		ctx  context.Context
		path string
	}{
		{"first tab", first, "/one"},
		{"second tab", second, "/two"},
	} {
		if err := chromedp.Do(c.ctx, chromedp.Navigate(srv.URL+c.path)); err != nil {
			t.Fatalf("%s: navigate: %v", c.name, err)
		}
	}
	// Both tabs keep their own page.
	for _, c := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"first tab", first, "/one"},
		{"second tab", second, "/two"},
	} {
		got, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS("#p")))
		if err != nil {
			t.Fatalf("%s: text: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: text = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, 5*time.Second, func() bool { n++; return n == 3 }, "counter reaches 3")
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
}
