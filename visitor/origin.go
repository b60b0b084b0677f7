package visitor

import (
	"net/http"
	"strings"

	"github.com/chatbridge/chatbridge/internal/clientip"
)

// originPolicy decides which browser origins may use the API and the stream.
type originPolicy struct {
	exact    map[string]bool // "scheme://host[:port]"
	wildcard []origin        // host "*.example.com"
	// sameHost allows an Origin whose host is the request's Host (only when
	// no public URL is configured).
	sameHost bool
}

func newOriginPolicy(publicURL string, allowed []string) originPolicy {
	p := originPolicy{exact: map[string]bool{}}
	if publicURL == "" {
		p.sameHost = true
	} else if o, err := parseOrigin(publicURL, true); err == nil {
		p.exact[o.String()] = true
	}
	for _, s := range allowed {
		o, err := parseOrigin(s, false)
		if err != nil {
			continue // rejected by Config.Validate
		}
		if strings.HasPrefix(o.host, "*.") {
			p.wildcard = append(p.wildcard, o)
		} else {
			p.exact[o.String()] = true
		}
	}
	return p
}

// allowed reports whether a request may proceed. Requests without an Origin
// header are allowed: they do not come from a cross-site script.
func (p originPolicy) allowed(r *http.Request) bool {
	raw := r.Header.Get("Origin")
	if raw == "" {
		return true
	}
	if raw == "null" {
		return false // sandboxed frames, file:// pages
	}
	o, err := parseOrigin(raw, false)
	if err != nil || strings.Contains(o.host, "*") {
		return false
	}
	if p.exact[o.String()] {
		return true
	}
	if p.sameHost && strings.TrimSuffix(strings.ToLower(r.Host), defaultPort(o.scheme)) == o.host {
		return true
	}
	for _, w := range p.wildcard {
		suffix := w.host[1:] // ".example.com[:port]"
		if o.scheme == w.scheme && strings.HasSuffix(o.host, suffix) && len(o.host) > len(suffix) {
			return true
		}
	}
	return false
}

// setCORS adds the CORS response headers for an allowed cross-origin request.
// Tokens travel in the Authorization header, never in cookies, so
// credentials are not allowed.
func setCORS(h http.Header, r *http.Request) {
	o := r.Header.Get("Origin")
	if o == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", o)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
	}
}

// clientIP returns the address rate limits are keyed by. With trustProxy it
// is the right-most valid address of the last X-Forwarded-For header (the
// one the nearest proxy appended; left-most entries can be forged by the
// client). IPv6 addresses are reduced to their /64, which one subscriber
// usually owns as a whole.
func clientIP(r *http.Request, trustProxy bool) string { return clientip.Of(r, trustProxy) }
