package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

var helpdeskSearchCommand = command{
	name:    "helpdesk_search",
	aliases: []string{"search_tickets"},
	usage:   "!helpdesk_search <keywords or #number> (or !search_tickets) — find tickets, newest first",
	run:     runHelpdeskSearch,
}

// searchShown is how many tickets a search shows.
const searchShown = 5

// runHelpdeskSearch finds tickets by "#number" or by keywords (every word
// must occur in the title, transcript, customer name or e-mail). A bare
// number also finds the ticket with that number, listed first.
func runHelpdeskSearch(ctx context.Context, r *Router, c call) (bridge.Outcome, error) {
	q := joinWords(c.args)
	if q == "" {
		return usageOf(c), nil
	}
	res, err := r.e.SearchTickets(ctx, q, searchShown)
	if err != nil {
		return bridge.Outcome{}, fmt.Errorf("search tickets: %w", err)
	}
	shown, total := res.Tickets, res.Total
	if total == 0 {
		return bridge.Outcome{Whisper: fmt.Sprintf("No tickets found for %s.", clip(q, 100))}, nil
	}
	var b strings.Builder
	if total == 1 {
		fmt.Fprintf(&b, "1 ticket found for %s:", clip(q, 100))
	} else {
		fmt.Fprintf(&b, "%d tickets found for %s, newest first:", total, clip(q, 100))
	}
	for _, t := range shown {
		fmt.Fprintf(&b, "\n#%d %s — %s — %s%s", t.Number, t.Title, customer(t), t.CreatedAt.UTC().Format("2006-01-02"), links(t.Links))
	}
	if more := total - len(shown); more > 0 {
		fmt.Fprintf(&b, "\nand %d more", more)
	}
	return bridge.Outcome{Whisper: b.String()}, nil
}

func customer(t bridge.Ticket) string {
	switch {
	case t.CustomerName != "":
		return t.CustomerName
	case t.CustomerEmail != "":
		return t.CustomerEmail
	}
	return "anonymous visitor"
}
