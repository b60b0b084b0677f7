package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name, remote, xff string
		trust             bool
		want              string
	}{
		{"peer v4", "198.51.100.7:4000", "", false, "198.51.100.7"},
		{"peer v6 /64", "[2001:db8:1:2:3:4:5:6]:4000", "", false, "2001:db8:1:2::/64"},
		{"mapped v4", "[::ffff:198.51.100.7]:4000", "", false, "198.51.100.7"},
		{"xff ignored when not trusted", "10.0.0.1:4000", "203.0.113.9", false, "10.0.0.1"},
		{"xff right-most when trusted", "10.0.0.1:4000", "6.6.6.6, 203.0.113.9", true, "203.0.113.9"},
		{"xff right-most with port", "10.0.0.1:4000", "1.2.3.4, 203.0.113.9:5555", true, "203.0.113.9"},
		{"xff right-most bracketed v6 with port", "10.0.0.1:4000", "1.2.3.4, [2001:db8::1]:443", true, "2001:db8::/64"},
		{"xff garbage right-most falls back to the peer, never left", "10.0.0.1:4000", "1.2.3.4, junk", true, "10.0.0.1"},
		{"xff all garbage falls back", "10.0.0.1:4000", "junk", true, "10.0.0.1"},
		{"unparseable peer", "nonsense", "", false, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := Of(r, tc.trust); got != tc.want {
				t.Fatalf("Of = %q, want %q", got, tc.want)
			}
		})
	}
}
