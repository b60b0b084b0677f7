package canned

import (
	"cmp"
	"slices"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// Visible returns the responses operatorKey may use: the shared ones (Owner
// "") and the operator's own personal ones, where a personal response
// shadows a shared one with the same shortcut. The result is sorted by
// shortcut. An empty operatorKey sees the shared responses only.
func Visible(all []bridge.CannedResponse, operatorKey string) []bridge.CannedResponse {
	byShortcut := make(map[string]int, len(all))
	out := make([]bridge.CannedResponse, 0, len(all))
	for _, c := range all {
		if c.Owner != "" && (operatorKey == "" || c.Owner != operatorKey) {
			continue
		}
		if i, ok := byShortcut[c.Shortcut]; ok {
			if c.Owner != "" { // personal shadows shared
				out[i] = c
			}
			continue
		}
		byShortcut[c.Shortcut] = len(out)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b bridge.CannedResponse) int { return strings.Compare(a.Shortcut, b.Shortcut) })
	return out
}

// Find returns the response with exactly this shortcut that operatorKey may
// use (their personal one first, else the shared one).
func Find(all []bridge.CannedResponse, shortcut, operatorKey string) (bridge.CannedResponse, bool) {
	var shared *bridge.CannedResponse
	for i := range all {
		c := &all[i]
		if c.Shortcut != shortcut {
			continue
		}
		switch {
		case c.Owner != "" && c.Owner == operatorKey:
			return *c, true
		case c.Owner == "":
			shared = c
		}
	}
	if shared != nil {
		return *shared, true
	}
	return bridge.CannedResponse{}, false
}

// Match returns the responses visible to operatorKey whose shortcut contains
// query (case-insensitive, a leading ':' ignored), ordered: the exact match,
// then prefix matches, then other substring matches; within each group by
// use count (most used first), then by shortcut. An empty query matches
// every visible response.
func Match(all []bridge.CannedResponse, query string, operatorKey string) []bridge.CannedResponse {
	q := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(query), ":"))
	type ranked struct {
		c    bridge.CannedResponse
		rank int
	}
	var hits []ranked
	for _, c := range Visible(all, operatorKey) {
		switch {
		case c.Shortcut == q:
			hits = append(hits, ranked{c, 0})
		case strings.HasPrefix(c.Shortcut, q):
			hits = append(hits, ranked{c, 1})
		case strings.Contains(c.Shortcut, q):
			hits = append(hits, ranked{c, 2})
		}
	}
	slices.SortFunc(hits, func(a, b ranked) int {
		return cmp.Or(
			cmp.Compare(a.rank, b.rank),
			cmp.Compare(b.c.Uses, a.c.Uses),
			strings.Compare(a.c.Shortcut, b.c.Shortcut),
		)
	})
	out := make([]bridge.CannedResponse, len(hits))
	for i, h := range hits {
		out[i] = h.c
	}
	return out
}
