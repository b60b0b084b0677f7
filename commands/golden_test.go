package commands

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenRun records operator inputs and what they produced.
type goldenRun struct {
	h *harness
	b strings.Builder
	// ids are replaced by stable names in the output.
	ids map[string]string
}

func (g *goldenRun) step(conv bridge.Conversation, op bridge.Operator, text string) {
	g.h.t.Helper()
	msgs := g.h.send(conv, op, text)
	fmt.Fprintf(&g.b, "> %s  [%s]\n%s\n", strings.ReplaceAll(text, "\n", `\n`), op.Key(), describe(msgs))
}

func (g *goldenRun) printf(format string, args ...any) { fmt.Fprintf(&g.b, format, args...) }

func (g *goldenRun) name(conv bridge.Conversation, as string) {
	g.ids[conv.ID] = as
	g.ids[conv.VisitorID] = as + "-visitor"
}

func (g *goldenRun) output() string {
	out := g.b.String()
	for id, as := range g.ids {
		out = strings.ReplaceAll(out, id, as)
	}
	return out
}

func TestGolden(t *testing.T) {
	scenarios := []struct {
		name string
		run  func(g *goldenRun)
	}{
		{"help", goldenHelp},
		{"helpdesk", goldenHelpdesk},
		{"helpdesk_search", goldenHelpdeskSearch},
		{"history", goldenHistory},
		{"lead", goldenLead},
		{"leave", goldenLeave},
		{"close", goldenClose},
		{"note", goldenNote},
		{"canned", goldenCanned},
		{"shortcuts", goldenShortcuts},
		{"unknown", goldenUnknown},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			g := &goldenRun{h: newHarness(t), ids: map[string]string{}}
			sc.run(g)
			got := g.output()
			path := filepath.Join("testdata", sc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./commands -run TestGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file (go test ./commands -run TestGolden -update, then review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

func goldenHelp(g *goldenRun) {
	named := g.h.conversation("Alice Visitor", "", "", "")
	g.step(named, alice, "!help")
	anon := g.h.conversation("", "", "", "")
	g.step(anon, bridge.Operator{Adapter: "slack", ID: "U1", Name: "Sam"}, "<@UBOT> help")
	g.step(anon, bridge.Operator{Adapter: "matrix", ID: "@mo:example.org", Name: "Mo"}, "/help")
	g.step(anon, bridge.Operator{Adapter: "teams", ID: "x", Name: "X"}, "<@UBOT>")
	g.h.router.opts.PlatformHelp = map[string]string{"inbox": "Custom how-to line for this site."}
	g.step(anon, alice, "！ｈｅｌｐ")
}

func goldenHelpdesk(g *goldenRun) {
	conv := g.h.conversation("Carol Client", "carol@example.com", "en-GB", "GB")
	g.step(conv, alice, "Did you try another cartridge?")
	g.step(conv, alice, ";; probably the fuser")
	g.step(conv, alice, "!helpdesk   Printer   prints\tblank pages ")
	g.step(conv, alice, "/ticket Second ticket")
	g.step(conv, alice, "!helpdesk")
	g.step(conv, alice, "!ticket    ")
	g.step(conv, alice, "!ticket "+strings.Repeat("long ", 50))
	g.printf("stored ticket #1:\n%s\n", describeTicket(g.h, 1))
	anon := g.h.conversation("", "", "", "")
	g.step(anon, alice, "!ticket Anonymous visitor issue")
	g.printf("stored ticket #3:\n%s\n", describeTicket(g.h, 3))
}

func describeTicket(h *harness, n uint64) string {
	var t bridge.Ticket
	h.update(func(tx bridge.Tx) error {
		var err error
		t, err = tx.Ticket(n)
		return err
	})
	return fmt.Sprintf("  number: %d\n  title: %s\n  customer: %q <%s>\n  operator: %s\n  created: %s\n  source: %s\n  description:\n    | %s\n",
		t.Number, t.Title, t.CustomerName, t.CustomerEmail, t.Operator.Key(), t.CreatedAt.Format(time.RFC3339), t.Source,
		strings.ReplaceAll(t.Description, "\n", "\n    | "))
}

func goldenHelpdeskSearch(g *goldenRun) {
	conv := g.h.conversation("Dan", "dan@example.com", "", "")
	seed := []bridge.Ticket{
		{Title: "Printer prints blank pages", CustomerName: "Erin Ellis", Description: "Erin: my printer is broken"},
		{Title: "Refund for order 4711", CustomerEmail: "frank@example.org", Description: "frank: refund please"},
		{Title: "Printer jams on A4", CustomerName: "Gus"},
		{Title: "Cannot log in", CustomerName: "Hana", CustomerEmail: "hana@example.net"},
		{Title: "Printer driver for macOS", CustomerName: "Ivy"},
		{Title: "Printer makes noise", Description: "Visitor: the printer is loud"},
		{Title: "Blank invoice PDF", CustomerName: "Jo", Description: "Jo: the printer... no, the PDF is blank"},
		{Title: "Printer toner question", CustomerName: "Kim"},
		{Title: "Ticket 3 follow-up", CustomerName: "Lee"},
	}
	for i, t := range seed {
		t.CreatedAt = clock.Add(-time.Duration(len(seed)-i) * 26 * time.Hour)
		if _, err := g.h.engine.CreateTicket(g.h.ctx, t); err != nil {
			g.h.t.Fatal(err)
		}
	}
	for _, q := range []string{
		"!helpdesk_search printer",
		"!search_tickets PRINTER   blank",
		"!helpdesk_search #3",
		"!helpdesk_search 3",
		"!helpdesk_search #99",
		"!helpdesk_search hana@example.net",
		"!helpdesk_search frank",
		"!helpdesk_search nothing-matches-this",
		"!helpdesk_search ???",
		"!helpdesk_search",
		"/search_tickets",
	} {
		g.step(conv, alice, q)
	}
}

func goldenHistory(g *goldenRun) {
	conv := g.h.conversation("Pat", "", "", "")
	type page struct {
		url, title string
		ago        time.Duration
	}
	pages := []page{
		{"https://shop.example.com/about", "About us", 5 * 24 * time.Hour}, // the 16th distinct page: not shown
		{"https://shop.example.com/", "Home", 3 * 24 * time.Hour},
		{"https://shop.example.com/faq", "FAQ", 30 * time.Hour},
		{"https://shop.example.com/printers", "Printers", 26 * time.Hour},
		{"https://shop.example.com/printers/p100", "P100 — laser printer", 3 * time.Hour},
		{"https://shop.example.com/cart", "", 2 * time.Hour},
		{"https://shop.example.com/printers", "Printers", 90 * time.Minute},
	}
	for i := range 10 {
		pages = append(pages, page{fmt.Sprintf("https://shop.example.com/help/%d", i), fmt.Sprintf("Help article %d", i), time.Duration(59-i*5) * time.Minute})
	}
	pages = append(pages, page{"https://shop.example.com/printers/p100", "P100 — laser printer", 20 * time.Second})
	for _, p := range pages {
		if err := g.h.engine.RecordPageView(g.h.ctx, conv.VisitorID, bridge.PageView{URL: p.url, Title: p.title, At: clock.Add(-p.ago)}); err != nil {
			g.h.t.Fatal(err)
		}
	}
	g.step(conv, alice, "!history")
	anon := g.h.conversation("", "", "", "")
	g.step(anon, alice, "/history")
}

func goldenLead(g *goldenRun) {
	conv := g.h.conversation("Quinn Buyer", "quinn@example.fr", "fr-CA", "CA")
	g.step(conv, alice, "We can offer a discount for 50 printers.")
	g.step(conv, alice, "!lead   50 printers for Quinn's office")
	g.step(conv, alice, "!lead")
	var l bridge.Lead
	g.h.update(func(tx bridge.Tx) error {
		var err error
		l, err = tx.Lead(1)
		return err
	})
	g.printf("stored lead #1:\n  title: %s\n  contact: %q <%s>\n  country: %s\n  language: %s\n  referred by: %s\n  source: %s\n  notes:\n    | %s\n\n",
		l.Title, l.ContactName, l.ContactEmail, l.Country, l.Language, l.ReferredBy.Key(), l.Source, strings.ReplaceAll(l.Notes, "\n", "\n    | "))
}

func goldenLeave(g *goldenRun) {
	conv := g.h.conversation("Rae", "", "", "")
	g.step(conv, alice, "Hello Rae, Alice here.")
	g.step(conv, bob, "Bob here too.")
	g.step(conv, alice, "!leave")
	g.step(conv, bob, "/leave")
	g.step(conv, bob, "!leave")
	g.printf("followers now: %d\noutbox: %s\n", len(g.h.conv(conv.VisitorID).Operators), g.h.outboxKinds())
}

func goldenClose(g *goldenRun) {
	conv := g.h.conversation("Sid", "", "", "")
	g.step(conv, alice, "!close")
	g.step(conv, alice, "!close")
	g.step(conv, alice, "Are you still there?")
	g.printf("status: %s\noutbox: %s\n", g.h.conv(conv.VisitorID).Status, g.h.outboxKinds())
}

func goldenNote(g *goldenRun) {
	conv := g.h.conversation("Tess", "", "", "")
	g.step(conv, alice, ";; call back tomorrow")
	g.step(conv, alice, "!note check the invoice\nsecond line")
	g.step(conv, alice, "/NOTE shouting")
	g.step(conv, alice, "<@UBOT> note via mention")
	g.step(conv, alice, "!note")
	g.step(conv, alice, ";;")
}

func goldenCanned(g *goldenRun) {
	g.h.seedCanned()
	conv := g.h.conversation("Uma", "", "", "")
	g.name(conv, "c_uma")
	for _, in := range []string{
		"!canned",
		"!canned list",
		"!canned list so",
		"!canned list :zzz",
		"!canned add thanks Thank you, {{visitor.name|there}}!",
		"!canned add thanks Thanks again, {{visitor.name|there}}!",
		"!canned add --mine sig2 Alice's second signature",
		"!canned add :quote --personal Quoted shortcut with flag after it",
		"!canned add Bad text",
		"!canned add lonely",
		"!canned add --bogus x y",
		"!canned add " + strings.Repeat("x", 33) + " too long a shortcut",
		":thanks",
		"!canned thanks",
		"!canned :sorry",
		"!canned nope",
		"!canned so",
		"!canned sorry now please",
		"!canned empty",
		"!canned remove thanks",
		"!canned remove thanks",
		"!canned remove bye",
		"!canned remove bye",
		"!canned remove",
		"!canned remove --shared sig",
	} {
		g.step(conv, alice, in)
	}
	for i := range 25 {
		g.h.update(func(tx bridge.Tx) error {
			return tx.PutCanned(bridge.CannedResponse{Shortcut: fmt.Sprintf("zz%02d", i), Text: fmt.Sprintf("Filler %d", i)})
		})
	}
	g.step(conv, bob, ":")
}

func goldenShortcuts(g *goldenRun) {
	g.h.seedCanned()
	conv := g.h.conversation("Vic", "vic@example.com", "", "")
	g.name(conv, "c_vic")
	for _, in := range []string{
		":",
		":so",
		":sorry",
		":zzz",
		"hello :sorry and :bye",
		":hi",
		":mail",
		":ref",
		"Meeting at 10:30 :) see https://x.y/a:b",
		":empty",
		":sorry :empty",
		"   ",
	} {
		g.step(conv, alice, in)
	}
	g.step(conv, bob, ":bye")
	g.step(conv, bob, ":sig")
	anon := g.h.conversation("", "", "", "")
	g.name(anon, "c_anon")
	g.step(anon, bob, ":hi")
	g.step(anon, bob, ":mail")
	var uses []string
	g.h.update(func(tx bridge.Tx) error {
		all, err := tx.AllCanned()
		for _, c := range all {
			uses = append(uses, fmt.Sprintf("%s/%s=%d", c.Shortcut, c.Owner, c.Uses))
		}
		return err
	})
	g.printf("use counts: %s\n", strings.Join(uses, " "))
}

func goldenUnknown(g *goldenRun) {
	conv := g.h.conversation("Wes", "", "", "")
	for _, in := range []string{"!helpdsk printer", "/histroy", "!ticke x", "//laed x", "<@UBOT> thanks!", "!hеlp", "!xyzzy", "/me waves", "!" + strings.Repeat("a", 100)} {
		g.step(conv, alice, in)
	}
}
