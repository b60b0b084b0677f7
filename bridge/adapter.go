package bridge

import (
	"context"
	"fmt"
	"time"
)

// Deliverer is an operator platform or a ticket/lead sink that receives
// outbox entries. The engine runs one delivery worker per Deliverer: Deliver
// is called from that one goroutine, never concurrently, in outbox order, and
// an entry of a conversation is not attempted before the earlier entries of
// the same conversation succeeded.
//
// A nil error means the entry was delivered and is removed from the outbox.
// An error wrapping ErrPermanent drops the entry (logged); a *PostponeError
// makes it wait until a given time without counting as a failure; any other
// error is retried with backoff, across restarts, until it succeeds.
// Deliveries may be repeated after a crash: use Delivery.Entry.EventID() as
// an idempotency key where the platform has one.
type Deliverer interface {
	// Name is the destination name used in the outbox ("slack", "webhook").
	Name() string
	// Kinds reports whether this destination wants entries of kind k.
	Wants(k OutboxKind) bool
	Deliver(ctx context.Context, d Delivery) (Receipt, error)
}

// Delivery is an outbox entry with the records it refers to, loaded at
// delivery time.
type Delivery struct {
	Entry        OutboxEntry
	Conversation Conversation // zero for entries without a conversation
	Visitor      Visitor
	Message      *Message // KindMessage
	Ticket       *Ticket  // KindTicket
	Lead         *Lead    // KindLead
}

// Receipt is what a destination reports about a successful delivery.
type Receipt struct {
	// Link is the URL of the created record (a ticket in Odoo), if any.
	Link string
}

// Whisperer is implemented by operator platforms that can show text to one
// operator only (Slack: ephemeral; Matrix: a notice in a thread; inbox: the
// operator's own view). The engine calls it after the whisper committed, for
// the platform named by the component's Name method (Operator.Adapter). An
// error is logged: the whisper stays in the store.
type Whisperer interface {
	Whisper(ctx context.Context, w Whisper) error
}

// Whisper is operator-only text for one operator.
type Whisper struct {
	Conversation Conversation
	Operator     Operator
	Text         string
	// InReplyTo is the platform id of the operator's message that caused it.
	InReplyTo string
}

// HealthChecker is implemented by parts that can report their health.
type HealthChecker interface {
	Name() string
	Health(ctx context.Context) error
}

// OperatorInput is a message an operator typed on a platform, as an adapter
// hands it to Engine.HandleOperator.
type OperatorInput struct {
	// EventID is the platform's id of the event, used for de-duplication;
	// "" disables it.
	EventID        string
	ConversationID string
	Operator       Operator
	// Text is what the operator typed (a file's caption; an edit's new
	// text).
	Text string
	// Mention is how the bot is mentioned on this platform ("<@U123>",
	// "@chatbridge:example.org"), used to recognise "<@BOT> help".
	Mention string
	// PlatformID is the platform's id of the message itself (a Slack
	// channel:ts, a Matrix event id) when it differs from EventID: later
	// edits and deletions name it. Default: EventID.
	PlatformID string
	// File is a file the operator shared, already in the blob store.
	File *Attachment
	// Emote marks an action ("/me waves").
	Emote bool
	// Edits names (by PlatformID) the operator's earlier message this
	// event edits: Text replaces its text for the visitor.
	Edits string
	// Deletes names (by PlatformID) the operator's earlier message this
	// event deletes from the visitor's view.
	Deletes string
}

// platformID is in's message id for later edits and deletions.
func (in OperatorInput) platformID() string {
	if in.PlatformID != "" {
		return in.PlatformID
	}
	return in.EventID
}

// Outcome is what an Interceptor decided about an operator message. The
// engine carries it out in one commit together with the event's
// de-duplication record: in this order the actions, the note, the reply and
// the whisper. Either all of it happens once, or nothing does and the
// platform's retry of the event is handled afresh.
type Outcome struct {
	// Relay is the text to send to the visitor ("" sends nothing).
	Relay string
	// Whisper is shown to the operator only.
	Whisper string
	// Note is stored as a private note shared by the operators.
	Note string
	// Actions change state (a ticket, a closed conversation, a canned
	// response…); what each says is shown to the operator after Whisper.
	// Build them with the constructors in actions.go.
	Actions []Action
}

// Interceptor classifies operator messages (commands, notes, canned
// responses); package commands implements it. Intercept only reads (through
// Engine methods): every change it wants is an Action in its Outcome. An
// error (a failed read) is shown to the operator as "That did not work".
type Interceptor interface {
	Intercept(ctx context.Context, in OperatorInput, conv Conversation) (Outcome, error)
}

// Metrics receives counters from the engine; cmd wires Prometheus to it.
type Metrics interface {
	MessageIn(from From)
	MessageOut(destination string)
	DeliveryLatency(destination string, seconds float64)
	DeliveryError(destination string)
}

type nopMetrics struct{}

func (nopMetrics) MessageIn(From)                  {}
func (nopMetrics) MessageOut(string)               {}
func (nopMetrics) DeliveryLatency(string, float64) {}
func (nopMetrics) DeliveryError(string)            {}

// RateLimited is implemented by destinations with a sending limit (Slack:
// about one message a second per channel). The delivery worker paces its
// calls to Deliver to at most PerSecond, with bursts of Burst.
type RateLimited interface {
	RateLimit() (perSecond float64, burst int)
}

// Delayer is implemented by destinations that want a message's entry to
// wait before its first attempt (e-mail waits to see whether the visitor
// comes back). The engine asks when it enqueues m, in the writing
// transaction: Delay must be quick and must not call the engine.
type Delayer interface {
	Delay(conv Conversation, m Message) time.Duration
}

// PostponeError asks the delivery worker to try the entry again at Until,
// without counting a failed attempt (the destination is waiting for
// something: e-mail coalesces replies). Later entries of the same
// conversation wait behind it.
type PostponeError struct {
	Until time.Time
}

func (e *PostponeError) Error() string {
	return "postponed until " + e.Until.UTC().Format(time.RFC3339)
}

// RetryAfterError asks the delivery worker to retry no sooner than After
// (HTTP 429 Retry-After, Slack's RateLimitedError).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// MessageFilter is implemented by destinations that want only some of the
// messages of KindMessage entries (e-mail wants public operator replies
// only). The engine asks before enqueueing, so an unwanted message costs no
// outbox write. Only From, Visibility and Operator of m are set when it is
// called (an operator platform skips its own operators' messages, which its
// users already saw).
type MessageFilter interface {
	WantsMessage(m Message) bool
}
