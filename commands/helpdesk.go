package commands

import (
	"context"
	"fmt"

	"github.com/chatbridge/chatbridge/bridge"
)

var helpdeskCommand = command{
	name:    "helpdesk",
	aliases: []string{"ticket"},
	usage:   "!helpdesk <title> (or !ticket) — create a ticket from this conversation",
	run:     runHelpdesk,
}

// runHelpdesk creates a ticket: the title, the visitor as customer, the
// public transcript as description.
func runHelpdesk(ctx context.Context, r *Router, c call) (bridge.Outcome, error) {
	t, problem := title(c)
	if problem != nil {
		return *problem, nil
	}
	v, transcript, err := r.visitorAndTranscript(ctx, c.conv)
	if err != nil {
		return bridge.Outcome{}, err
	}
	tk := bridge.Ticket{
		Title:          t,
		Description:    transcript,
		CustomerName:   v.Name,
		CustomerEmail:  v.Email,
		ConversationID: c.conv.ID,
		VisitorID:      c.conv.VisitorID,
		Operator:       c.in.Operator,
	}
	return bridge.Outcome{Actions: []bridge.Action{bridge.CreateTicketAction(tk, func(tk bridge.Ticket) string {
		return fmt.Sprintf("Created ticket #%d: %s%s", tk.Number, tk.Title, links(tk.Links))
	})}}, nil
}
