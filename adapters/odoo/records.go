package odoo

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// reference is a marker written into each record's description, unique to
// this ticket or lead (its conversation ids are random; the creation time
// tells apart records of a store that was reset), so that a retry can find
// the record an earlier attempt created. Plain ASCII: it survives Odoo's
// HTML sanitizer and matches an ilike search.
func reference(kind string, number uint64, conversationID string, created time.Time) string {
	return "chatbridge-" + kind + "-" + strconv.FormatUint(number, 10) + "-" +
		strconv.FormatInt(created.UnixNano(), 36) + "-" + strings.ToLower(conversationID)
}

// ticketValues are the helpdesk.ticket fields of t.
func (s *Sink) ticketValues(t bridge.Ticket, ref string) map[string]any {
	v := map[string]any{
		"name": title(t.Title, "Chat ticket", t.Number),
		"description": describe(t.Description, []detail{
			{"Customer", contact(t.CustomerName, t.CustomerEmail)},
			{"Conversation", t.ConversationID},
			{"Operator", t.Operator.Name},
			{"Source", t.Source},
		}, fmt.Sprintf("chatbridge ticket #%d", t.Number), ref),
	}
	if t.CustomerName != "" {
		v["partner_name"] = t.CustomerName
	}
	if t.CustomerEmail != "" {
		v["partner_email"] = t.CustomerEmail
	}
	if s.cfg.HelpdeskTeamID > 0 {
		v["team_id"] = s.cfg.HelpdeskTeamID
	}
	return v
}

// leadValues are the crm.lead fields of l. The lead's type is left to Odoo:
// "lead" when the CRM uses leads, else "opportunity", as for Odoo's own
// live chat /lead.
func leadValues(l bridge.Lead, ref string) map[string]any {
	v := map[string]any{
		"name": title(l.Title, "Chat lead", l.Number),
		"description": describe(l.Notes, []detail{
			{"Contact", contact(l.ContactName, l.ContactEmail)},
			{"Country", l.Country},
			{"Language", l.Language},
			{"Conversation", l.ConversationID},
			{"Source", l.Source},
		}, fmt.Sprintf("chatbridge lead #%d", l.Number), ref),
	}
	if l.ContactName != "" {
		v["contact_name"] = l.ContactName
	}
	if l.ContactEmail != "" {
		v["email_from"] = l.ContactEmail
	}
	if l.ReferredBy.Name != "" {
		v["referred"] = l.ReferredBy.Name
	}
	return v
}

func title(t, fallback string, number uint64) string {
	t = strings.Join(strings.Fields(t), " ")
	if t == "" {
		return fmt.Sprintf("%s #%d", fallback, number)
	}
	return t
}

func contact(name, email string) string {
	switch {
	case name != "" && email != "":
		return name + " <" + email + ">"
	case name != "":
		return name
	}
	return email
}

type detail struct{ label, value string }

// describe renders an HTML description: one paragraph per transcript line,
// then the details and the reference. Every text is escaped: visitor text
// is never HTML.
func describe(transcript string, details []detail, footer, ref string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(transcript, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			b.WriteString("<p>" + html.EscapeString(line) + "</p>")
		}
	}
	var lines []string
	for _, d := range details {
		if v := strings.TrimSpace(d.value); v != "" {
			lines = append(lines, html.EscapeString(d.label)+": "+html.EscapeString(v))
		}
	}
	if len(lines) > 0 {
		b.WriteString("<p>" + strings.Join(lines, "<br>") + "</p>")
	}
	b.WriteString("<p><small>" + html.EscapeString(footer) + " · ref " + html.EscapeString(ref) + "</small></p>")
	return b.String()
}
