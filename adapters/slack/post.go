package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/chatbridge/chatbridge/bridge"
)

// This file makes every post once, at Slack's pace.
//
// Each post carries its metadata id: the outbox entry's event id for its
// first part, "<event id>/k" for part k of a split text, "root:<id>" for a
// thread's root. An entry that may already have been posted — tried before
// with an uncertain outcome (a timeout, a 5xx), or left from an earlier run
// — is first looked up in the thread, and only its missing parts are
// posted. What a try learnt is kept in memory (tried), so that a retry
// after a certain failure (a 429, an ok:false answer, the pause gate)
// resumes without a lookup.

// tried is what this process knows of an entry it tried to deliver.
type tried struct {
	// posted maps the metadata ids of the entry's posts known to be in
	// Slack to their ts; every other post of the entry is known not to be.
	posted map[string]string
}

// triedMax bounds the entries remembered; forgetting only costs lookups.
const triedMax = 10000

// uncertain reports whether an entry may already have been posted: it was
// tried before (unless every try's outcome is known), or it is older than
// this process (a crash between the post and the outbox delete).
func (a *Adapter) uncertain(en bridge.OutboxEntry) bool {
	a.mu.Lock()
	_, known := a.tried[en.ID]
	a.mu.Unlock()
	return !known && (en.Attempts > 0 || en.CreatedAt.Before(a.started))
}

// learn records that the posts in posted (metadata id → ts) are all of the
// entry's posts in Slack.
func (a *Adapter) learn(id uint64, posted map[string]string) {
	if posted == nil {
		posted = map[string]string{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.tried) >= triedMax {
		clear(a.tried)
	}
	a.tried[id] = &tried{posted: posted}
}

// forget drops what is known of an entry: its next try looks first.
func (a *Adapter) forget(id uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tried, id)
}

// knows reports whether every post of the entry in Slack is known.
func (a *Adapter) knows(id uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.tried[id]
	return ok
}

// posted returns the ts of an entry's post, when known to be in Slack.
func (a *Adapter) posted(id uint64, metaID string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.tried[id]
	if !ok {
		return "", false
	}
	ts, ok := t.posted[metaID]
	return ts, ok
}

// remember records one post of an entry.
func (a *Adapter) remember(id uint64, metaID, ts string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.tried[id]; ok {
		t.posted[metaID] = ts
	}
}

// certainlyNotPosted reports a chat.postMessage failure that stored
// nothing: a 429, Slack's ok:false answer, or the adapter's pacing ending
// with the context. Timeouts, 5xx and other failures may come after Slack
// stored the message.
func certainlyNotPosted(err error) bool {
	var rl *slack.RateLimitedError
	var se slack.SlackErrorResponse
	return errors.As(err, &rl) || errors.As(err, &se) || errors.Is(err, errNotSent)
}

// errNotSent: the post was not sent (the pacer's wait ended with the
// context).
var errNotSent = errors.New("not sent")

// partID is the metadata id of part k (from 0) of an entry's posts.
func partID(en bridge.OutboxEntry, k int) string {
	if k == 0 {
		return en.EventID()
	}
	return en.EventID() + "/" + strconv.Itoa(k+1)
}

// postParts posts texts into a thread as the entry's parts 0, 1, …, in
// order, each once: parts already in Slack are not posted again. It returns
// the "channel:ts" of every part.
func (a *Adapter) postParts(ctx context.Context, en bridge.OutboxEntry, channel, root string, texts []string, extra ...slack.MsgOption) ([]string, error) {
	refs := make([]string, 0, len(texts))
	for k, text := range texts {
		ref, err := a.postPart(ctx, en, channel, root, k, text, extra...)
		if err != nil {
			return refs, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// postPart posts text into a thread as the entry's part k, unless it is
// in Slack already (an entry whose posts are not all known is looked up
// first). It returns the post's "channel:ts".
func (a *Adapter) postPart(ctx context.Context, en bridge.OutboxEntry, channel, root string, k int, text string, extra ...slack.MsgOption) (string, error) {
	if !a.knows(en.ID) {
		found, err := a.findPosted(ctx, channel, root, en.EventID(), en.CreatedAt)
		if err != nil {
			return "", err
		}
		if len(found) > 0 {
			a.log.Info("slack posts found in the thread, not posted again", "entry", en.EventID(), "parts", len(found))
		}
		a.learn(en.ID, found)
	}
	id := partID(en, k)
	if ts, ok := a.posted(en.ID, id); ok {
		return channel + ":" + ts, nil
	}
	ts, err := a.postMessage(ctx, channel, root, id, slack.MsgOptionText(text, false), slack.MsgOptionCompose(extra...))
	if err != nil {
		if !certainlyNotPosted(err) {
			a.forget(en.ID)
		}
		return "", fmt.Errorf("post in thread: %w", err)
	}
	a.remember(en.ID, id, ts)
	return channel + ":" + ts, nil
}

// postMessage makes one chat.postMessage call, paced, in the thread root
// (top level when root is ""), with unfurls, mentions and parsing off and
// the metadata id.
func (a *Adapter) postMessage(ctx context.Context, channel, root, id string, opts ...slack.MsgOption) (string, error) {
	if err := a.pace.wait(ctx, channel); err != nil {
		return "", fmt.Errorf("%w: %w", errNotSent, err)
	}
	all := append([]slack.MsgOption{
		slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl(),
		slack.MsgOptionLinkNames(false), slack.MsgOptionParse(false),
	}, opts...)
	if root != "" {
		all = append(all, slack.MsgOptionTS(root))
	}
	if id != "" {
		all = append(all, metadata(id))
	}
	_, ts, err := a.api.PostMessageContext(ctx, channel, all...)
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		a.pace.hold(channel, time.Now().Add(max(rl.RetryAfter, time.Second)))
	}
	return ts, err
}

func metadata(id string) slack.MsgOption {
	return slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metaType, EventPayload: map[string]any{"id": id}})
}

// findPosted looks for messages posted since since with metadata id base,
// or base/k (the parts of a split text): in the thread root, or in the
// channel when root is "". It returns their ts by metadata id.
func (a *Adapter) findPosted(ctx context.Context, channel, root, base string, since time.Time) (map[string]string, error) {
	var oldest string
	if !since.IsZero() {
		oldest = slackTS(since.Add(-lookBack))
	}
	found := map[string]string{}
	cursor := ""
	for range 20 {
		var (
			msgs []slack.Message
			more bool
			next string
			err  error
		)
		if root != "" {
			msgs, more, next, err = a.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: channel, Timestamp: root, Oldest: oldest, Cursor: cursor, Limit: 200, IncludeAllMetadata: true,
			})
		} else {
			var resp *slack.GetConversationHistoryResponse
			resp, err = a.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
				ChannelID: channel, Oldest: oldest, Cursor: cursor, Limit: 200, IncludeAllMetadata: true,
			})
			if resp != nil {
				msgs, more, next = resp.Messages, resp.HasMore, resp.ResponseMetaData.NextCursor
			}
		}
		if err != nil {
			return nil, fmt.Errorf("look for an earlier post: %w", err)
		}
		for _, m := range msgs {
			if m.Metadata.EventType != metaType {
				continue
			}
			id := fmt.Sprint(m.Metadata.EventPayload["id"])
			if id == base || strings.HasPrefix(id, base+"/") {
				found[id] = m.Timestamp
			}
		}
		if !more || next == "" {
			break
		}
		cursor = next
	}
	return found, nil
}

// slackTS formats t as a Slack timestamp.
func slackTS(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// pacer spaces chat.postMessage calls per channel: Slack allows about one
// message a second per channel with short bursts and answers 429 beyond,
// and every thread shares the support channel. A 429's Retry-After holds
// the whole channel, not only the entry that met it.
type pacer struct {
	rate, burst float64

	mu    sync.Mutex
	chans map[string]*paceState
}

type paceState struct {
	tokens    float64
	last      time.Time
	notBefore time.Time
}

// Posts per second and burst of the pacer: a little under what Slack
// allows, so that the jitter of the network does not meet its limit.
const (
	postsPerSecond = 1.0
	postBurst      = 2
)

func newPacer(rate float64, burst int) *pacer {
	return &pacer{rate: rate, burst: float64(max(burst, 1)), chans: map[string]*paceState{}}
}

// state returns channel's bucket; p.mu must be held.
func (p *pacer) state(channel string, now time.Time) *paceState {
	st := p.chans[channel]
	if st == nil {
		if len(p.chans) >= 1000 {
			clear(p.chans)
		}
		st = &paceState{tokens: p.burst, last: now}
		p.chans[channel] = st
	}
	return st
}

// wait blocks until a post to channel is allowed or ctx ends.
func (p *pacer) wait(ctx context.Context, channel string) error {
	for {
		p.mu.Lock()
		now := time.Now()
		st := p.state(channel, now)
		st.tokens = min(p.burst, st.tokens+now.Sub(st.last).Seconds()*p.rate)
		st.last = now
		var d time.Duration
		switch {
		case now.Before(st.notBefore):
			d = st.notBefore.Sub(now)
		case st.tokens >= 1:
			st.tokens--
			p.mu.Unlock()
			return nil
		default:
			d = time.Duration((1 - st.tokens) / p.rate * float64(time.Second))
		}
		p.mu.Unlock()
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// hold keeps posts to channel back until until (a 429's Retry-After).
func (p *pacer) hold(channel string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state(channel, time.Now())
	if until.After(st.notBefore) {
		st.notBefore = until
	}
	st.tokens = 0
}

// postRecord is what the adapter keeps (adapter state, under recordKey)
// about a message it delivered: where its posts are, so that a later edit
// or deletion made on another platform reaches them, and how far the
// upload of its file went, so that a retry after a crash neither loses
// nor repeats it.
type postRecord struct {
	// Posts are the "channel:ts" of the text parts, in order.
	Posts []string `json:"posts,omitempty"`
	// Customized: the posts show their author by a custom username.
	Customized bool `json:"customized,omitempty"`
	// File is the Slack id of the message's file, once an upload began.
	File string `json:"file,omitempty"`
	// Comment: the message sharing the file carries the text (a caption
	// short enough for one post), before the posts of Posts.
	Comment bool `json:"comment,omitempty"`
	// FileTS is the "channel:ts" of the message that shares the file
	// (empty until known; files.info tells).
	FileTS string `json:"file_ts,omitempty"`
	// Done: everything was posted.
	Done bool `json:"done,omitempty"`
	// Deleted: the message was deleted from the thread.
	Deleted bool `json:"deleted,omitempty"`
}

// recordKey is the adapter-state key of a message's record.
func recordKey(conversationID string, seq uint64) string {
	return "msg:" + conversationID + ":" + strconv.FormatUint(seq, 10)
}

// loadRecord returns a message's record (found false when there is none).
func (a *Adapter) loadRecord(ctx context.Context, conversationID string, seq uint64) (postRecord, bool, error) {
	var rec postRecord
	b, err := a.engine.AdapterState(ctx, AdapterName, recordKey(conversationID, seq))
	if errors.Is(err, bridge.ErrNotFound) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("load post record: %w", err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("%w: post record of %s/%d: %w", bridge.ErrPermanent, conversationID, seq, err)
	}
	return rec, true, nil
}

// saveRecord stores a message's record.
func (a *Adapter) saveRecord(ctx context.Context, conversationID string, seq uint64, rec postRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("save post record: %w", err)
	}
	err = a.engine.SaveAdapter(context.WithoutCancel(ctx), AdapterName, bridge.AdapterChange{
		State: map[string][]byte{recordKey(conversationID, seq): b},
	})
	if err != nil {
		return fmt.Errorf("save post record: %w", err)
	}
	return nil
}

// splitRef splits a "channel:ts" reference.
func splitRef(ref string) (channel, ts string, ok bool) {
	channel, ts, ok = strings.Cut(ref, ":")
	return channel, ts, ok && channel != "" && ts != ""
}
