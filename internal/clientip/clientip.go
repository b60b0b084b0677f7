// Package clientip tells which client address an HTTP request comes from,
// for rate limits and login limits.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Of returns the address limits are keyed by. With trustProxy it is the
// right-most valid address of the last X-Forwarded-For header (the one the
// nearest proxy appended; entries further left can be forged by the client);
// otherwise, or without a usable header, the TCP peer. IPv6 addresses are
// reduced to their /64, which one subscriber usually owns as a whole. An
// address that cannot be parsed is "unknown".
func Of(r *http.Request, trustProxy bool) string {
	var addr netip.Addr
	if trustProxy {
		if v := r.Header.Values("X-Forwarded-For"); len(v) > 0 {
			parts := strings.Split(v[len(v)-1], ",")
			for i := len(parts) - 1; i >= 0 && !addr.IsValid(); i-- {
				addr, _ = netip.ParseAddr(strings.TrimSpace(parts[i]))
			}
		}
	}
	if !addr.IsValid() {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		addr, _ = netip.ParseAddr(host)
	}
	if !addr.IsValid() {
		return "unknown"
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
