package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

var historyCommand = command{
	name:  "history",
	usage: "!history — the last pages this visitor looked at",
	run:   runHistory,
}

const (
	// historyShown is how many distinct pages history lists.
	historyShown = 15
	// historyScan is how many page views it reads to find them.
	historyScan = 200
)

// runHistory lists the visitor's last distinct pages, newest first, from the
// store, so it works after the visitor left.
func runHistory(ctx context.Context, r *Router, c call) (bridge.Outcome, error) {
	v, err := r.e.VisitorOf(ctx, c.conv)
	if err != nil {
		return bridge.Outcome{}, fmt.Errorf("visitor: %w", err)
	}
	views, err := r.e.PageViews(ctx, c.conv.VisitorID, historyScan)
	if err != nil {
		return bridge.Outcome{}, fmt.Errorf("page views: %w", err)
	}
	seen := map[string]bool{}
	var pages []bridge.PageView
	for _, pv := range views {
		if seen[pv.URL] {
			continue
		}
		seen[pv.URL] = true
		pages = append(pages, pv)
		if len(pages) == historyShown {
			break
		}
	}
	if len(pages) == 0 {
		return bridge.Outcome{Whisper: "No page views recorded for this visitor."}, nil
	}
	now := r.e.Now()
	var b strings.Builder
	who := "this visitor"
	if name := joinWords(v.Name); name != "" {
		who = name
	}
	fmt.Fprintf(&b, "Last pages of %s, newest first:", who)
	for _, pv := range pages {
		b.WriteString("\n")
		if t := joinWords(pv.Title); t != "" {
			b.WriteString(clip(t, 100) + " — ")
		}
		b.WriteString(pv.URL + " — " + ago(now, pv.At))
	}
	return bridge.Outcome{Whisper: b.String()}, nil
}

// ago says how long before now t was, roughly.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	case d < 48*time.Hour:
		return "yesterday"
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}
