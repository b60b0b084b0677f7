package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

var leadCommand = command{
	name:  "lead",
	usage: "!lead <title> — create a sales lead from this conversation",
	run:   runLead,
}

// runLead creates a lead: the title, the visitor as contact (with country and
// language when known), the transcript as internal notes, the operator as
// the one who referred it.
func runLead(ctx context.Context, r *Router, c call) (bridge.Outcome, error) {
	t, problem := title(c)
	if problem != nil {
		return *problem, nil
	}
	v, transcript, err := r.visitorAndTranscript(ctx, c.conv)
	if err != nil {
		return bridge.Outcome{}, err
	}
	l := bridge.Lead{
		Title:          t,
		Notes:          transcript,
		ContactName:    v.Name,
		ContactEmail:   v.Email,
		Country:        v.Country,
		Language:       language(v.Locale),
		ConversationID: c.conv.ID,
		VisitorID:      c.conv.VisitorID,
		ReferredBy:     c.in.Operator,
	}
	return bridge.Outcome{Actions: []bridge.Action{bridge.CreateLeadAction(l, func(l bridge.Lead) string {
		return fmt.Sprintf("Created lead #%d: %s%s", l.Number, l.Title, links(l.Links))
	})}}, nil
}

// language returns the primary language subtag of a locale ("fr-CA" → "fr").
func language(locale string) string {
	lang, _, _ := strings.Cut(strings.TrimSpace(locale), "-")
	lang, _, _ = strings.Cut(lang, "_")
	return strings.ToLower(lang)
}
