package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/chatbridge/chatbridge/bridge"
)

// inboundEvent is an Events API event accepted (acknowledged) but not yet
// handled.
type inboundEvent struct {
	id  string
	raw json.RawMessage
}

// messageEvent is the part of a Slack message event the bridge reads.
type messageEvent struct {
	Type        string        `json:"type"`
	Subtype     string        `json:"subtype"`
	Channel     string        `json:"channel"`
	User        string        `json:"user"`
	BotID       string        `json:"bot_id"`
	AppID       string        `json:"app_id"`
	Text        string        `json:"text"`
	TS          string        `json:"ts"`
	ThreadTS    string        `json:"thread_ts"`
	ClientMsgID string        `json:"client_msg_id"`
	Files       []slackFile   `json:"files"`
	Edited      *edited       `json:"edited"`
	DeletedTS   string        `json:"deleted_ts"`
	Message     *messageEvent `json:"message"`
	Previous    *messageEvent `json:"previous_message"`
}

// edited is a message's edit mark.
type edited struct {
	User string `json:"user"`
	TS   string `json:"ts"`
}

// drainTimeout bounds how long Run keeps handling queued events after its
// context ends.
const drainTimeout = 10 * time.Second

// enqueue hands an acknowledged event to processInbound, waiting for room.
// It does not give up when ctx ends: the event was acknowledged, so Slack
// will not send it again, and processInbound keeps taking events until
// receiving has stopped.
func (a *Adapter) enqueue(ev inboundEvent) {
	a.inbound <- ev
}

// stopReceiving makes the HTTP handler refuse new events (503, so that
// Slack retries them later) and waits for requests already queueing one.
func (a *Adapter) stopReceiving() {
	a.recvMu.Lock()
	a.recvClosed = true
	a.recvMu.Unlock()
}

// processInbound handles events one at a time, in the order they arrived,
// so that an operator's messages reach the visitor in the order typed.
// When ctx ends it keeps going until stopped is closed (nothing more can be
// queued), then handles what is left in the queue and returns. Events are
// handled on a context that outlives ctx by at most drainTimeout, so an
// acknowledged event is not lost to the shutdown.
func (a *Adapter) processInbound(ctx context.Context, stopped <-chan struct{}) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-hctx.Done():
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(a.drainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-hctx.Done():
		}
	}()
	for {
		select {
		case ev := <-a.inbound:
			a.handleWithRetry(hctx, ev)
		case <-stopped:
			for {
				select {
				case ev := <-a.inbound:
					a.handleWithRetry(hctx, ev)
				default:
					return
				}
			}
		}
	}
}

// handleWithRetry handles one event, retrying transient failures a few
// times: the event was acknowledged, so Slack will not send it again.
func (a *Adapter) handleWithRetry(ctx context.Context, ev inboundEvent) {
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := a.handleEvent(ctx, ev)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			a.log.Error("slack event dropped at shutdown", "event", ev.id, "err", err)
			return
		}
		if attempt == 3 {
			a.log.Error("slack event dropped", "event", ev.id, "err", err)
			return
		}
		a.log.Warn("slack event failed, will retry", "event", ev.id, "err", err)
		if !sleep(ctx, wait) {
			a.log.Error("slack event dropped at shutdown", "event", ev.id, "err", err)
			return
		}
		wait *= 4
	}
}

// handleEvent turns an operator's thread message into
// Engine.HandleOperator: its text, and its files (downloaded and stored,
// the text as their caption); its edits and deletions become edits and
// deletions of what the visitor saw. Everything else is ignored: other
// channels and threads, top-level messages, messages of bots (the bridge's
// own above all), subtypes other than thread_broadcast and file_share, and
// message_changed events that are no edit of the text (unfurls, thread
// bookkeeping).
func (a *Adapter) handleEvent(ctx context.Context, ev inboundEvent) error {
	var m messageEvent
	if err := json.Unmarshal(ev.raw, &m); err != nil {
		a.log.Warn("slack event undecodable", "event", ev.id, "err", err)
		return nil
	}
	if m.Type != "message" {
		return nil
	}
	self, err := a.ensureAuth(ctx)
	if err != nil {
		return err
	}
	switch m.Subtype {
	case "", "thread_broadcast", "file_share":
	case "message_changed":
		return a.handleEdit(ctx, ev, m, self)
	case "message_deleted":
		return a.handleDeletion(ctx, ev, m, self)
	default:
		return nil
	}
	if fromBot(m, self) || m.User == "" || m.ThreadTS == "" || m.ThreadTS == m.TS {
		return nil
	}
	conv, ok, err := a.conversationOf(ctx, m.Channel, m.ThreadTS)
	if err != nil || !ok {
		return err
	}
	op := bridge.Operator{Adapter: AdapterName, ID: m.User, Name: a.displayName(ctx, m.User)}
	id := ev.id
	if id == "" {
		id = m.ClientMsgID
	}
	if id == "" {
		id = m.Channel + ":" + m.TS
	}
	if len(m.Files) > 0 {
		// Slack's retry of an event already handled downloads nothing.
		return a.engine.Once(ctx, "slack:files:"+id, 0, func(ctx context.Context) error {
			return a.relay(ctx, m, self, conv, op, id)
		})
	}
	return a.relay(ctx, m, self, conv, op, id)
}

// relay hands an operator's thread message to the engine: its text, and
// its files, downloaded and stored (the text is the first one's caption;
// refused files are explained to the operator).
func (a *Adapter) relay(ctx context.Context, m messageEvent, self identity, conv string, op bridge.Operator, id string) error {
	accepted, refused, err := a.receiveFiles(ctx, m.Files)
	if err != nil {
		return err
	}
	text := a.operatorText(ctx, m.Text, self.UserID)
	platformID := m.Channel + ":" + m.TS
	in := bridge.OperatorInput{
		EventID: id, ConversationID: conv, Operator: op, Text: text, Mention: "<@" + self.UserID + ">", PlatformID: platformID,
	}
	if len(accepted) > 0 {
		in.File = &accepted[0]
	}
	if strings.TrimSpace(text) != "" || in.File != nil {
		if done, err := a.handleOperator(ctx, in, m.TS); done || err != nil {
			return err
		}
	}
	// Further files go as messages of their own, without a caption; a
	// deletion of the Slack message deletes them too (handleDeletion).
	for i := 1; i < len(accepted); i++ {
		more := in
		more.EventID, more.PlatformID = id+"/f"+strconv.Itoa(i+1), platformID+"/f"+strconv.Itoa(i+1)
		more.Text, more.File = "", &accepted[i]
		if done, err := a.handleOperator(ctx, more, m.TS); done || err != nil {
			return err
		}
	}
	if len(refused) > 0 {
		text := "Not sent to the visitor: " + strings.Join(refused, "; ") + "."
		return a.engine.Notice(ctx, bridge.OperatorInput{EventID: id, ConversationID: conv, Operator: op}, text)
	}
	return nil
}

// handleOperator hands one input to the engine; done is true when the
// conversation is gone (nothing more to do for the event).
func (a *Adapter) handleOperator(ctx context.Context, in bridge.OperatorInput, ts string) (done bool, err error) {
	err = a.engine.HandleOperator(ctx, in)
	switch {
	case errors.Is(err, bridge.ErrInvalid):
		return false, a.engine.Whisper(ctx, in.ConversationID, in.Operator, "Not sent to the visitor: "+err.Error(), ts)
	case errors.Is(err, bridge.ErrNotFound):
		a.log.Warn("slack thread of a deleted conversation", "conversation", in.ConversationID)
		return true, nil
	}
	return false, err
}

// handleEdit relays an operator's edit of a thread message (message_changed
// with message.edited and a new text) as an edit of what the visitor saw.
// Unfurls and thread bookkeeping also fire message_changed: without an
// edit mark, or with the same text, nothing happens.
func (a *Adapter) handleEdit(ctx context.Context, ev inboundEvent, m messageEvent, self identity) error {
	in, prev := m.Message, m.Previous
	if in == nil || in.Edited == nil || (prev != nil && prev.Text == in.Text) {
		return nil
	}
	if fromBot(*in, self) || in.User == "" || in.ThreadTS == "" || in.ThreadTS == in.TS {
		return nil
	}
	conv, ok, err := a.conversationOf(ctx, m.Channel, in.ThreadTS)
	if err != nil || !ok {
		return err
	}
	op := bridge.Operator{Adapter: AdapterName, ID: in.User, Name: a.displayName(ctx, in.User)}
	id := ev.id
	if id == "" {
		id = m.Channel + ":" + in.TS + ":edited:" + in.Edited.TS
	}
	_, err = a.handleOperator(ctx, bridge.OperatorInput{
		EventID: id, ConversationID: conv, Operator: op, Mention: "<@" + self.UserID + ">",
		Edits: m.Channel + ":" + in.TS, Text: a.operatorText(ctx, in.Text, self.UserID),
	}, in.TS)
	return err
}

// handleDeletion relays the deletion of an operator's thread message
// (message_deleted) as a deletion of what the visitor saw: the message,
// and the further files it carried.
func (a *Adapter) handleDeletion(ctx context.Context, ev inboundEvent, m messageEvent, self identity) error {
	prev := m.Previous
	if prev == nil || m.DeletedTS == "" {
		return nil
	}
	if fromBot(*prev, self) || prev.User == "" || prev.ThreadTS == "" || prev.ThreadTS == m.DeletedTS {
		return nil
	}
	conv, ok, err := a.conversationOf(ctx, m.Channel, prev.ThreadTS)
	if err != nil || !ok {
		return err
	}
	op := bridge.Operator{Adapter: AdapterName, ID: prev.User, Name: a.displayName(ctx, prev.User)}
	id := ev.id
	if id == "" {
		id = m.Channel + ":" + m.DeletedTS + ":deleted"
	}
	target := m.Channel + ":" + m.DeletedTS
	in := bridge.OperatorInput{EventID: id, ConversationID: conv, Operator: op, Deletes: target}
	if done, err := a.handleOperator(ctx, in, m.DeletedTS); done || err != nil {
		return err
	}
	for i := 2; i <= len(prev.Files); i++ {
		in.EventID, in.Deletes = id+"/f"+strconv.Itoa(i), target+"/f"+strconv.Itoa(i)
		if done, err := a.handleOperator(ctx, in, m.DeletedTS); done || err != nil {
			return err
		}
	}
	return nil
}

// fromBot reports messages of any bot or app, the bridge's own included:
// matched by the ids auth.test gave, not by name or subtype, since custom
// usernames make names useless.
func fromBot(m messageEvent, self identity) bool {
	switch {
	case m.BotID != "" || m.Subtype == "bot_message":
		return true
	case self.UserID != "" && m.User == self.UserID:
		return true
	case self.AppID != "" && m.AppID == self.AppID:
		return true
	}
	return false
}

// conversationOf maps a thread to its conversation. A thread it does not
// know may be one whose root this adapter is posting right now (an
// operator answering within milliseconds, a bot): it waits for those roots
// to be stored, then looks again. Other threads of the channel are the
// operators' own and are left alone.
func (a *Adapter) conversationOf(ctx context.Context, channel, threadTS string) (string, bool, error) {
	ref := channel + ":" + threadTS
	conv, err := a.engine.ConversationByRef(ctx, AdapterName, ref)
	if errors.Is(err, bridge.ErrNotFound) && a.roots.wait(ctx, rootWait) {
		conv, err = a.engine.ConversationByRef(ctx, AdapterName, ref)
	}
	// In a cluster another node may be posting the root (one node
	// delivers): a thread whose root is seconds old is looked up again
	// for a while. Older unknown threads are the operators' own.
	if errors.Is(err, bridge.ErrNotFound) && a.engine.Node() != "" && recentThread(threadTS, a.engine.Now()) {
		t := time.NewTicker(rootPoll)
		defer t.Stop()
		for deadline := time.Now().Add(rootWait); errors.Is(err, bridge.ErrNotFound) && time.Now().Before(deadline); {
			select {
			case <-ctx.Done():
				return "", false, ctx.Err()
			case <-t.C:
			}
			conv, err = a.engine.ConversationByRef(ctx, AdapterName, ref)
		}
	}
	if errors.Is(err, bridge.ErrNotFound) {
		a.log.Debug("slack message in a thread that is not a conversation: ignored", "thread", ref)
		return "", false, nil
	}
	return conv, err == nil, err
}

// rootWait bounds how long a reply waits for a thread root being posted;
// in a cluster the store is looked at every rootPoll meanwhile.
const (
	rootWait = 10 * time.Second
	rootPoll = 100 * time.Millisecond
)

// recentThread reports whether a thread's root (its ts is the root's Unix
// time) was posted within rootWait of now: one whose root another node may
// still be storing.
func recentThread(threadTS string, now time.Time) bool {
	secs, _, _ := strings.Cut(threadTS, ".")
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return false
	}
	age := now.Sub(time.Unix(n, 0))
	return age > -time.Minute && age < rootWait+5*time.Second
}

// pendingRoots counts thread roots being posted.
type pendingRoots struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

func (p *pendingRoots) begin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		p.idle = make(chan struct{})
	}
	p.n++
}

func (p *pendingRoots) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n--; p.n == 0 {
		close(p.idle)
	}
}

// wait waits up to d for the roots being posted now to be stored, and
// reports whether there were any.
func (p *pendingRoots) wait(ctx context.Context, d time.Duration) bool {
	p.mu.Lock()
	n, idle := p.n, p.idle
	p.mu.Unlock()
	if n == 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	case <-ctx.Done():
	}
	return true
}

// displayName is an operator's name for the visitor, falling back to the id.
func (a *Adapter) displayName(ctx context.Context, user string) string {
	if n := a.users.name(ctx, user); n != "" {
		return n
	}
	return user
}

// operatorText converts Slack markup to plain text, keeping a leading
// mention of the bot as it is, so that "<@BOT> help" stays a command.
func (a *Adapter) operatorText(ctx context.Context, text, botUserID string) string {
	resolve := func(id string) string { return a.users.name(ctx, id) }
	if rest, ok := cutBotMention(text, botUserID); ok {
		return "<@" + botUserID + "> " + strings.TrimLeft(ToVisitor(rest, resolve), " ")
	}
	return ToVisitor(text, resolve)
}

// maxEventBody caps an HTTP event's body.
const maxEventBody = 1 << 20

// Handler receives the HTTP Events API (mount it at EventsPath in HTTP
// mode). A request is accepted only with a valid signature from
// SigningSecret, made within five minutes; without a configured secret every
// request is refused. It answers url_verification, acknowledges events at
// once (200) and hands them to Run's handler; when that is backed up, or Run
// is shutting down, it answers 503 so that Slack retries later.
func (a *Adapter) Handler() http.Handler {
	return http.HandlerFunc(a.serveEvents)
}

func (a *Adapter) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if a.cfg.SigningSecret == "" {
		a.log.Warn("slack event refused: no signing secret configured")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := verify(r.Header, body, a.cfg.SigningSecret); err != nil {
		a.log.Warn("slack event refused", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var outer struct {
		Type      string          `json:"type"`
		Challenge string          `json:"challenge"`
		EventID   string          `json:"event_id"`
		Event     json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	switch outer.Type {
	case slackevents.URLVerification:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, outer.Challenge)
		return
	case slackevents.CallbackEvent:
		if len(outer.Event) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if !a.offer(inboundEvent{id: outer.EventID, raw: outer.Event}) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// offer queues an HTTP event unless the queue is full or the adapter is
// shutting down; false means "answer 503" (Slack retries later).
func (a *Adapter) offer(ev inboundEvent) bool {
	a.recvMu.RLock()
	defer a.recvMu.RUnlock()
	if a.recvClosed {
		a.log.Info("slack event refused while shutting down, slack will retry", "event", ev.id)
		return false
	}
	select {
	case a.inbound <- ev:
		return true
	default:
		a.log.Warn("slack event queue full, asking slack to retry", "event", ev.id)
		return false
	}
}

// verify checks Slack's v0 signature over the raw body and the five-minute
// window of its timestamp.
func verify(h http.Header, body []byte, secret string) error {
	sv, err := slack.NewSecretsVerifier(h, secret)
	if err != nil {
		return errors.Join(ErrBadSignature, err)
	}
	if _, err := sv.Write(body); err != nil {
		return errors.Join(ErrBadSignature, err)
	}
	if err := sv.Ensure(); err != nil {
		return errors.Join(ErrBadSignature, err)
	}
	return nil
}

// runSocket keeps a Socket Mode connection until ctx ends, starting a new
// client with backoff when one gives up (slack-go reconnects by itself on
// Slack's disconnect requests and dropped connections).
func (a *Adapter) runSocket(ctx context.Context) {
	wait := time.Second
	for {
		smc := socketmode.New(a.api, socketmode.OptionLog(discard{}))
		connected, err := a.socketOnce(ctx, smc)
		if ctx.Err() != nil {
			return
		}
		if connected {
			wait = time.Second
		}
		a.setSocketErr(err)
		a.log.Warn("slack socket mode stopped, reconnecting", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, a.cfg.ReconnectMax)
	}
}

// discard silences slack-go's own logger (the adapter logs what matters).
type discard struct{}

func (discard) Output(int, string) error { return nil }

// socketOnce runs one Socket Mode client until it stops; it reports whether
// it connected at least once.
func (a *Adapter) socketOnce(ctx context.Context, smc *socketmode.Client) (connected bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- smc.RunContext(ctx) }()
	for {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("socket mode client stopped")
			}
			return connected, err
		case evt := <-smc.Events:
			if evt.Type == socketmode.EventTypeConnected {
				connected = true
			}
			a.socketEvent(ctx, smc, evt)
		}
	}
}

// socketEvent handles one Socket Mode event. Events API requests are
// acknowledged first and handled in order by processInbound.
func (a *Adapter) socketEvent(ctx context.Context, smc *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.setSocketErr(nil)
		a.log.Info("slack socket mode connected")
	case socketmode.EventTypeHello:
		if evt.Request != nil {
			a.setAppID(evt.Request.ConnectionInfo.AppID)
		}
	case socketmode.EventTypeConnectionError:
		if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			a.setSocketErr(ce.ErrorObj)
			a.log.Warn("slack socket mode connection failed", "err", ce.ErrorObj, "attempt", ce.Attempt)
		}
	case socketmode.EventTypeInvalidAuth:
		a.setSocketErr(errors.New("invalid app token (slack.app_token)"))
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
		if evt.Request == nil || ctx.Err() != nil {
			return // shutting down: not acknowledged, so Slack sends it again
		}
		// Bounded: during a reconnect nobody sends acks, and an unacked
		// event is only retried by Slack (and de-duplicated).
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := smc.AckCtx(actx, evt.Request.EnvelopeID, nil); err != nil {
			a.log.Warn("slack ack failed", "err", err)
		}
		cancel()
		ea, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok {
			return
		}
		if cb, ok := ea.Data.(*slackevents.EventsAPICallbackEvent); ok && cb.InnerEvent != nil {
			a.enqueue(inboundEvent{id: cb.EventID, raw: *cb.InnerEvent})
		}
	case socketmode.EventTypeErrorBadMessage:
		if bm, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
			a.log.Warn("slack socket mode message undecodable", "err", bm.Cause)
		}
	}
}

func (a *Adapter) setSocketErr(err error) {
	a.mu.Lock()
	a.socketErr = err
	a.mu.Unlock()
}
