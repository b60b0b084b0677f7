package commands

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// benchTickets is the size of the ticket store BenchmarkHelpdeskSearch
// searches (DESIGN §7: p95 under 20 ms over 100,000 tickets).
const benchTickets = 100_000

var (
	benchOnce sync.Once
	benchDir  string
	benchPath string
	benchErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchStore builds, once per test binary run, a store of benchTickets
// realistic tickets (seeded, so every run searches the same data), written
// without fsync, and returns its path.
func benchStore(b *testing.B) string {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "chatbridge-bench-")
		if benchErr != nil {
			return
		}
		benchPath = filepath.Join(benchDir, "tickets.db")
		start := time.Now()
		benchErr = buildTickets(benchPath, benchTickets)
		b.Logf("built %d tickets in %v", benchTickets, time.Since(start).Round(time.Millisecond))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchPath
}

func buildTickets(path string, n int) error {
	st, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		return err
	}
	if err := fillTickets(st, n); err != nil {
		_ = st.Close()
		return err
	}
	return st.Close()
}

// fillTickets creates n generated tickets. Transactions stay small: bbolt
// splits nodes only at commit, so one huge transaction gets quadratic.
func fillTickets(st bridge.Store, n int) error {
	g := newTicketGen(rand.New(rand.NewPCG(2026, 11)))
	const perTx = 250
	for done := 0; done < n; {
		batch := min(perTx, n-done)
		tickets := make([]bridge.Ticket, batch)
		for i := range tickets {
			tickets[i] = g.ticket(done + i)
		}
		err := st.Update(context.Background(), func(tx bridge.Tx) error {
			for _, t := range tickets {
				if _, err := tx.CreateTicket(t); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fill tickets: %w", err)
		}
		done += batch
	}
	return nil
}

// ticketGen makes help-desk tickets that look like real ones: a skewed
// choice of products and problems (some words are in most tickets, some in
// few), customers from a name list, order numbers and model codes that are
// nearly unique, and a short transcript.
type ticketGen struct {
	r *rand.Rand
}

func newTicketGen(r *rand.Rand) *ticketGen { return &ticketGen{r: r} }

var (
	products = []string{"printer", "laptop", "router", "monitor", "keyboard", "headset", "webcam", "tablet",
		"phone", "charger", "docking station", "scanner", "speaker", "mouse", "projector", "smartwatch",
		"camera", "drone", "e-reader", "hard drive", "graphics card", "power bank", "microphone", "TV"}
	problems = []string{"does not turn on", "prints blank pages", "paper jam", "is very slow", "overheats",
		"has no sound", "keeps losing wifi", "screen is broken", "battery drains fast", "makes a loud noise",
		"will not charge", "firmware update failed", "driver missing", "stuck on boot logo", "flickers",
		"arrived damaged", "is missing parts", "disconnects randomly", "shows error E04", "cannot pair bluetooth"}
	topics = []string{"refund request", "delivery late", "wrong item delivered", "invoice copy", "password reset",
		"cannot log in", "warranty claim", "change delivery address", "cancel order", "discount code not working",
		"bulk order quote", "return label", "account deleted", "double charged", "gift wrapping"}
	firstNames = []string{"Alice", "Bruno", "Chloé", "Dmitri", "Emma", "Farid", "Greta", "Hiro", "Ines", "Jonas",
		"Kaito", "Lena", "Marco", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Victor",
		"Wen", "Ximena", "Yusuf", "Zoé", "Amara", "Björn", "Carmen", "Diego", "Elif", "Fatima", "Gustav", "Hana"}
	lastNames = []string{"Martin", "Schmidt", "Rossi", "García", "Nowak", "Dubois", "Kowalski", "Silva", "Jensen",
		"Yamamoto", "Okafor", "Novak", "Fischer", "Moreau", "Larsen", "Costa", "Weber", "Petrov", "Lambert",
		"Haddad", "Andersson", "Ferrari", "Nguyen", "Kim", "Müller", "Bianchi", "Santos", "Horvat", "Meyer", "Ali"}
	domains = []string{"example.com", "mail.example.org", "shop.example.net", "corp.example", "example.fr"}
	asides  = []string{"I already restarted it twice.", "It worked fine until yesterday.", "This is urgent, please.",
		"I bought it as a gift.", "My colleague has the same problem.", "I tried another cable.",
		"The manual does not say anything about this.", "Can you call me back?", "I have the receipt.",
		"It happens every morning.", "I updated everything last week."}
	operatorLines = []string{"I am sorry to hear that.", "Could you send me a photo?", "Let me check your order.",
		"Please try a factory reset.", "I have forwarded this to our technicians.", "We will send a replacement.",
		"Could you confirm your address?", "Thank you for your patience."}
)

// skewed picks from list with a Zipf-like bias toward the first items.
func (g *ticketGen) skewed(list []string) string {
	i := int(float64(len(list)) * g.r.Float64() * g.r.Float64())
	return list[i]
}

func (g *ticketGen) ticket(i int) bridge.Ticket {
	first, last := g.skewed(firstNames), g.skewed(lastNames)
	customer := first + " " + last
	email := strings.ToLower(fmt.Sprintf("%s.%s%d@%s", first, last, g.r.IntN(100), g.skewed(domains)))
	order := 10000 + g.r.IntN(900000)
	model := fmt.Sprintf("%c%d", 'A'+rune(g.r.IntN(26)), 100+g.r.IntN(900))
	var title, opening string
	if g.r.IntN(3) == 0 {
		topic := g.skewed(topics)
		title = fmt.Sprintf("%s for order %d", strings.ToUpper(topic[:1])+topic[1:], order)
		opening = fmt.Sprintf("Hello, I need help with a %s. My order number is %d.", topic, order)
	} else {
		product, problem := g.skewed(products), g.skewed(problems)
		title = fmt.Sprintf("%s %s %s", strings.ToUpper(product[:1])+product[1:], model, problem)
		opening = fmt.Sprintf("Hi, my %s %s %s. I bought it with order %d.", product, model, problem, order)
	}
	lines := []string{customer + ": " + opening}
	for range 2 + g.r.IntN(6) {
		if g.r.IntN(2) == 0 {
			lines = append(lines, "Support: "+operatorLines[g.r.IntN(len(operatorLines))])
		} else {
			lines = append(lines, customer+": "+asides[g.r.IntN(len(asides))])
		}
	}
	t := bridge.Ticket{
		Title:        title,
		Description:  strings.Join(lines, "\n"),
		CustomerName: customer,
		Operator:     bridge.Operator{Adapter: "inbox", ID: "op" + fmt.Sprint(g.r.IntN(12)), Name: "Operator"},
		CreatedAt:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 15 * time.Minute),
		Source:       "Live Chat",
	}
	if g.r.IntN(4) != 0 {
		t.CustomerEmail = email
	}
	return t
}

// Query classes of BenchmarkHelpdeskSearch, by how many of the 100,000
// tickets they match: common words 3,000 to 20,000; rare ones 0 to about
// 1,000; "everywhere" words are in (nearly) every ticket, like a stop word
// ("order" is in all of them); numbers find one ticket or none.
var benchQueries = map[string][]string{
	"common":     {"printer", "refund", "laptop", "blank pages", "slow", "delivery late", "alice", "urgent", "wifi", "schmidt"},
	"rare":       {"drone flickers", "gift wrapping", "ximena", "yusuf ali", "e04 tv", "z999", "account deleted", "double charged 510000", "müller", "nonexistentword"},
	"number":     {"#1", "#99999", "#50000", "#123456", "4711", "#77", "#100000", "#2", "#31337", "#64000"},
	"everywhere": {"order", "hi order"},
}

// benchClasses is the order the sub-benchmarks run in; "mix" draws from
// common, rare and number queries in equal parts.
var benchClasses = []string{"mix", "common", "rare", "number", "everywhere"}

// BenchmarkHelpdeskSearch measures the whole "!helpdesk_search <query>"
// command path (Router.Intercept: parse, store search, loading the shown
// tickets, formatting) over benchTickets tickets, and reports p50/p95/p99
// latencies per query class and for a mix of them.
func BenchmarkHelpdeskSearch(b *testing.B) {
	path := benchStore(b)
	st := fixture.StoreAt(b, path, boltstore.Options{})
	e := fixture.Engine(b, fixture.Options{Store: st, NoRun: true})
	r := New(e, Options{})
	ctx := context.Background()
	_, v, err := e.StartSession(ctx, bridge.SessionInput{Name: "Bench Visitor"})
	if err != nil {
		b.Fatal(err)
	}
	m, err := e.VisitorMessage(ctx, v.ID, "bench", "Hello")
	if err != nil {
		b.Fatal(err)
	}
	conv, err := e.Conversation(ctx, m.ConversationID)
	if err != nil {
		b.Fatal(err)
	}
	mix := slices.Concat(benchQueries["common"], benchQueries["rare"], benchQueries["number"])
	for _, class := range benchClasses {
		queries := mix
		if class != "mix" {
			queries = benchQueries[class]
		}
		b.Run(class, func(b *testing.B) {
			durations := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				in := bridge.OperatorInput{ConversationID: conv.ID, Operator: alice, Text: "!helpdesk_search " + queries[i%len(queries)]}
				i++
				start := time.Now()
				out, err := r.Intercept(ctx, in, conv)
				durations = append(durations, time.Since(start))
				if err != nil || out.Whisper == "" || out.Relay != "" {
					b.Fatalf("%q: %+v, %v", in.Text, out, err)
				}
			}
			reportPercentiles(b, durations)
		})
	}
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		i := min(int(p*float64(len(d))), len(d)-1)
		return float64(d[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// TestBenchQueriesFindTickets keeps the benchmark honest on a small store:
// common queries find many tickets, rare ones few, numbers one or none.
func TestBenchQueriesFindTickets(t *testing.T) {
	h := newHarness(t)
	if err := fillTickets(h.store, 3000); err != nil {
		t.Fatal(err)
	}
	conv := h.conversation("Tester", "", "", "")
	for _, q := range []string{"printer", "order", "refund"} {
		out, err := h.router.Intercept(h.ctx, bridge.OperatorInput{Operator: alice, Text: "!helpdesk_search " + q}, conv)
		if err != nil || !strings.Contains(out.Whisper, "and ") {
			t.Errorf("common query %q found few tickets: %q, %v", q, clip(out.Whisper, 80), err)
		}
	}
	out, err := h.router.Intercept(h.ctx, bridge.OperatorInput{Operator: alice, Text: "!helpdesk_search #2"}, conv)
	if err != nil || !strings.HasPrefix(out.Whisper, "1 ticket found for #2:\n#2 ") {
		t.Errorf("#2: %q, %v", out.Whisper, err)
	}
}

// benchMessages are typical operator messages: replies short and long, in
// several scripts, with colons and exclamation marks, and a few commands,
// notes and shortcuts.
var benchMessages = []string{
	"Hello! How can I help you today?",
	"Could you send me your order number, please?",
	"I am sorry to hear that. Let me check with our technicians: it may take a few minutes.",
	"¡Hola! ¿En qué puedo ayudarle?",
	"Bonjour ! Je regarde votre commande tout de suite.",
	"ご注文番号を教えていただけますか？",
	"Meeting at 10:30, see https://example.com/help?x=1 :)",
	"hello :sorry",
	strings.Repeat("A long reply with many words in it, ", 20),
	"!help",
	"!helpdesk Printer broken",
	";; the customer is a VIP",
	":sorry",
	"/home/user/file",
}

// BenchmarkClassify measures what the Router does to every operator message
// before any store access: Parse (twice for a reply: with the platform's
// mention and with the bot's name) and the relay gate.
func BenchmarkClassify(b *testing.B) {
	r := New(nil, Options{BotName: "chatbridge"})
	i := 0
	for b.Loop() {
		in := bridge.OperatorInput{Text: benchMessages[i%len(benchMessages)], Mention: "<@UBOT>"}
		i++
		r.classify(in)
	}
}
