package inbox

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext checks that the after-login redirect never leaves the inbox.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/inbox/", "/inbox/c/c_1?status=closed", "//evil", "/inbox//evil", "/inbox/\\evil", "https://x/inbox/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		if !safeNext(next) {
			return
		}
		u, err := url.Parse(next)
		if err != nil {
			return // the browser would not follow it either
		}
		if u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/inbox/") {
			t.Errorf("safeNext(%q) accepted a redirect to scheme %q host %q path %q", next, u.Scheme, u.Host, u.Path)
		}
	})
}

// FuzzBrowserName checks that any User-Agent is handled.
func FuzzBrowserName(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	f.Add("")
	f.Fuzz(func(t *testing.T, ua string) {
		if got := browserName(ua); len(got) > 40 {
			t.Errorf("browserName(%q) = %q, longer than any known name", ua, got)
		}
	})
}
