package commands

import (
	"context"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

// Options configure a Router.
type Options struct {
	// BotName is the bot's name: "@BotName help" typed as plain text is a
	// command like a real mention, and help texts use it. Default
	// "chatbridge".
	BotName string
	// PlatformHelp replaces the built-in how-to lines of help for an adapter
	// ("inbox", "slack", "matrix", …). Lines are separated by "\n".
	PlatformHelp map[string]string
	// MaxMessageBytes is the engine's limit on a message (default
	// bridge.DefaultMaxMessageBytes): a longer reply is refused with a
	// whisper instead of failing in the engine.
	MaxMessageBytes int
	// Logger receives warnings (a use count that could not be recorded).
	// Default: discard.
	Logger *slog.Logger
}

// Engine is what the commands read from the bridge (bridge.Engine
// implements it). Commands change nothing themselves: every change is a
// bridge.Action in their Outcome, which the engine commits with the
// operator's message.
type Engine interface {
	Now() time.Time
	// VisitorOf is the visitor of a conversation (the id only when the
	// record is missing).
	VisitorOf(ctx context.Context, conv bridge.Conversation) (bridge.Visitor, error)
	Messages(ctx context.Context, conversationID string, after uint64, limit int) ([]bridge.Message, error)
	PageViews(ctx context.Context, visitorID string, limit int) ([]bridge.PageView, error)
	CannedResponses(ctx context.Context) ([]bridge.CannedResponse, error)
	SearchTickets(ctx context.Context, q string, limit int) (bridge.TicketQuery, error)
}

var _ Engine = (*bridge.Engine)(nil)

// Router classifies operator messages and runs commands. It implements
// bridge.Interceptor and is safe for concurrent use.
type Router struct {
	e    Engine
	opts Options
	log  *slog.Logger
}

var _ bridge.Interceptor = (*Router)(nil)

// New returns a Router reading from engine. Register it with the engine
// (bridge.Engine.Register) to have it classify operator messages.
func New(engine Engine, opts Options) *Router {
	if opts.BotName == "" {
		opts.BotName = "chatbridge"
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = bridge.DefaultMaxMessageBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{e: engine, opts: opts, log: log}
}

// Intercept decides what happens to an operator's message. Only a reply (with
// canned shortcuts expanded and their variables rendered) or the text of
// "!canned <shortcut>" is put in Outcome.Relay; everything else the operator
// should see goes to Outcome.Whisper, and notes to Outcome.Note. An error
// means a store or engine failure; the engine shows it to the operator only.
func (r *Router) Intercept(ctx context.Context, in bridge.OperatorInput, conv bridge.Conversation) (bridge.Outcome, error) {
	p, refused := r.classify(in)
	if refused != "" {
		return bridge.Outcome{Whisper: refused}, nil
	}
	switch p.Kind {
	case KindCommand:
		cmd := byName[p.Name]
		out, err := cmd.run(ctx, r, call{in: in, conv: conv, name: p.Name, args: p.Args})
		if err != nil {
			return bridge.Outcome{}, fmt.Errorf("%s: %w", cmd.name, err)
		}
		return out, nil
	case KindUnknown:
		return bridge.Outcome{Whisper: unknownText(p)}, nil
	case KindMistyped:
		return bridge.Outcome{Whisper: mistypedText(p)}, nil
	case KindNote:
		if p.Text == "" {
			return bridge.Outcome{Whisper: "Usage: " + noteCommand.usage}, nil
		}
		return bridge.Outcome{Note: p.Text}, nil
	case KindListCanned:
		return r.listCanned(ctx, in, conv)
	case KindCannedQuery:
		return r.cannedQuery(ctx, in, conv, p.Text)
	default:
		return r.reply(ctx, in, conv, p.Text)
	}
}

// classify parses in. For a reply it also runs the relay gate on the text
// the operator typed and on the reply: refused is the whisper when the gate
// stops it (then nothing may be relayed).
func (r *Router) classify(in bridge.OperatorInput) (p Parsed, refused string) {
	p = Parse(in.Text, in.Mention)
	if p.Kind == KindReply {
		// Operators also type the bot's name by hand ("@chatbridge help").
		if q := Parse(in.Text, "@"+r.opts.BotName); q.Kind != KindReply {
			p = q
		}
	}
	if p.Kind == KindReply {
		refused = r.refusal(in, in.Text, p.Text)
	}
	return p, refused
}

// refusal runs the relay gate on each text and returns the whisper for the
// first it refuses, or "".
func (r *Router) refusal(in bridge.OperatorInput, texts ...string) string {
	mentions := []string{in.Mention, "@" + r.opts.BotName}
	for _, t := range texts {
		if why := relayRefusal(t, mentions...); why != "" {
			r.log.Warn("relay gate refused a reply", "operator", in.Operator.Key())
			return "Not sent: this looks like a command or a note (" + why + ")."
		}
	}
	return ""
}

// unknownText answers a command attempt that is not a command.
func unknownText(p Parsed) string {
	prefix := p.Prefix
	if prefix == "@" {
		prefix = ""
	}
	typed := clip(prefix+p.Name, 40)
	if s := suggest(p.Name); s != "" {
		return fmt.Sprintf("Unknown command %s — did you mean !%s? Try !help for the list. Nothing was sent to the visitor.", typed, s)
	}
	return fmt.Sprintf("Unknown command %s — try !help. Nothing was sent to the visitor.", typed)
}

// mistypedText answers a command name after a lone prefix ("! note x").
func mistypedText(p Parsed) string {
	if p.Prefix == ";;" {
		return "Did you mean ;; (a private note)? Nothing was sent."
	}
	return "Did you mean !" + p.Name + "? Nothing was sent."
}

// relay sends text to the visitor, with whisper for the operator, unless it
// is over the size limit or the relay gate refuses it. Every Outcome.Relay
// is made here.
func (r *Router) relay(in bridge.OperatorInput, text, whisper string) bridge.Outcome {
	if refused := r.refusal(in, text); refused != "" {
		return bridge.Outcome{Whisper: refused}
	}
	if len(text) > r.opts.MaxMessageBytes {
		return bridge.Outcome{Whisper: fmt.Sprintf("Nothing was sent: the message is %d bytes long, the limit is %d.", len(text), r.opts.MaxMessageBytes)}
	}
	return bridge.Outcome{Relay: text, Whisper: whisper}
}

// clip shortens s to at most n characters, adding "…" when it cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
