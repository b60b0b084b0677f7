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
// right-most entry of the last X-Forwarded-For header, the one the nearest
// proxy appended ("ip", "ip:port" or "[ipv6]:port"); entries further left
// are never used, since the client can write them. Otherwise, or when that
// entry is not an address, it is the TCP peer. IPv6 addresses are reduced
// to their /64, which one subscriber usually owns as a whole. An address
// that cannot be parsed is "unknown".
func Of(r *http.Request, trustProxy bool) string {
	var addr netip.Addr
	if trustProxy {
		if v := r.Header.Values("X-Forwarded-For"); len(v) > 0 {
			parts := strings.Split(v[len(v)-1], ",")
			addr = parse(strings.TrimSpace(parts[len(parts)-1]))
		}
	}
	if !addr.IsValid() {
		addr = parse(r.RemoteAddr)
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

// parse reads "ip", "ip:port" or "[ipv6]:port"; the zero Addr when it is
// none of them.
func parse(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	addr, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return addr
}
