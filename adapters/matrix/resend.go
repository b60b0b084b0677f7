package matrix

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A repeated delivery must never repeat a message. Every event an outbox
// delivery sends carries a transaction id derived from the entry, which
// homeservers use to drop repeats — but they forget transaction ids:
// Dendrite keeps them in memory only (a restart loses them), and forgets
// one whose request was cut off after the event was stored (a crash, a
// timeout). So the adapter also writes the entry's id into the event
// (fieldEntry) and, before it sends an entry whose earlier attempt may
// have succeeded, looks for that id among the room's recent events
// (findSent). Like the Slack adapter, it looks only when the outcome of an
// earlier attempt is unknown (uncertain): an entry tried before, unless
// every try certainly failed, or an entry older than this process.

// fieldEntry names, in the content of every event an outbox delivery sends,
// the entry that sent it (bridge.OutboxEntry.EventID; "card:<conversation>"
// for a room's context card).
const fieldEntry = "org.chatbridge.entry"

const (
	// lookBack widens the search for an earlier send before the entry was
	// queued, for clock skew between this host and the homeserver.
	lookBack = 5 * time.Minute
	// maxLookEvents bounds the events read back to find an earlier send;
	// beyond, the entry is sent (a duplicate is better than a loss) and a
	// warning logged.
	maxLookEvents = 2000
	// lookPage is the page size of /messages while looking.
	lookPage = 100
	// maxTracked bounds the memories of entries' outcomes; forgetting one
	// only costs a look.
	maxTracked = 10000
)

// uncertain reports whether an entry may already be in the room: it was
// tried before, unless every try certainly failed, or it is older than this
// process (a crash between the send and the outbox's delete).
func (a *Adapter) uncertain(en bridge.OutboxEntry) bool {
	a.mu.Lock()
	_, known := a.notSent[en.ID]
	a.mu.Unlock()
	return !known && (en.Attempts > 0 || en.CreatedAt.Before(a.started))
}

// setNotSent records that an entry is certainly not in the room (until an
// attempt may have sent it).
func (a *Adapter) setNotSent(entry uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.notSent) >= maxTracked {
		clear(a.notSent)
	}
	a.notSent[entry] = struct{}{}
}

// triedUncertainly records an attempt whose outcome is unknown: the next
// one looks first, with a look that started after this attempt.
func (a *Adapter) triedUncertainly(entry uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.notSent, entry)
	if len(a.triedAt) >= maxTracked {
		clear(a.triedAt)
	}
	a.triedAt[entry] = a.now()
}

// delivered forgets what was remembered about a delivered entry.
func (a *Adapter) delivered(entry uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.notSent, entry)
	delete(a.triedAt, entry)
}

// certainlyNotSent reports a failure after which the homeserver certainly
// stored nothing: it refused the request with a 4xx (a 429 included), or
// the connection was never made. A timeout, a 5xx or a connection cut
// while waiting may come after the event was stored.
func certainlyNotSent(err error) bool {
	var herr mautrix.HTTPError
	if errors.As(err, &herr) && herr.Response != nil {
		return herr.Response.StatusCode >= 400 && herr.Response.StatusCode < 500
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// sendOnce sends an entry's event of type typ with content c into room as
// cli (the bot, or a visitor's ghost), once: the content names the entry
// (fieldEntry under key), the transaction id is the entry's, and an
// uncertain entry is first looked for in the room. It returns the event id
// (of the earlier send when one is found).
func (a *Adapter) sendOnce(ctx context.Context, cli *mautrix.Client, room id.RoomID, typ event.Type, c content, en bridge.OutboxEntry, key string) (id.EventID, error) {
	c[fieldEntry] = key
	if a.uncertain(en) {
		evID, found, err := a.findSent(ctx, room, key, en.CreatedAt, a.lastTry(en.ID))
		if err != nil {
			return "", err
		}
		if found {
			a.log.Info("matrix event found in the room, not sent again", "room", room, "entry", key, "event", evID)
			return evID, nil
		}
		a.setNotSent(en.ID)
	}
	resp, err := cli.SendMessageEvent(ctx, room, typ, c, mautrix.ReqSendEvent{TransactionID: key})
	if err != nil {
		if !certainlyNotSent(err) {
			a.triedUncertainly(en.ID)
		}
		return "", fmt.Errorf("send to %s: %w", room, a.wrap(err))
	}
	return resp.EventID, nil
}

func (a *Adapter) lastTry(entry uint64) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.triedAt[entry]
}

// roomScan is what a look through a room's recent events found: the
// events this bridge sent that name an entry.
type roomScan struct {
	at       time.Time // when the look started
	oldest   time.Time // the oldest event read
	complete bool      // the look reached the room's first event
	sent     map[string]id.EventID
}

// covers reports whether the scan can answer for an entry queued at since
// whose last uncertain attempt (in this process) was at tried.
func (s *roomScan) covers(since, tried time.Time) bool {
	return s != nil && s.at.After(tried) && (s.complete || !s.oldest.After(since.Add(-lookBack)))
}

// findSent looks for an event of this bridge naming key in room, sent
// since `since` (less lookBack). A scan of the room is reused for the
// entries it covers, so a backlog of uncertain entries after a restart
// costs one look per room, not one per entry.
func (a *Adapter) findSent(ctx context.Context, room id.RoomID, key string, since, tried time.Time) (id.EventID, bool, error) {
	a.mu.Lock()
	scan := a.scans[room]
	a.mu.Unlock()
	if !scan.covers(since, tried) {
		var err error
		if scan, err = a.scan(ctx, room, since.Add(-lookBack)); err != nil {
			return "", false, err
		}
		a.mu.Lock()
		if len(a.scans) >= maxRooms {
			clear(a.scans)
		}
		a.scans[room] = scan
		a.mu.Unlock()
		if !scan.covers(since, tried) {
			a.log.Warn("matrix room not read back far enough to tell whether an event was sent: sending it", "room", room, "entry", key, "events_read", len(scan.sent))
		}
	}
	evID, ok := scan.sent[key]
	return evID, ok, nil
}

// scan reads room's events back from the newest until one older than
// until, the room's first event, or maxLookEvents.
func (a *Adapter) scan(ctx context.Context, room id.RoomID, until time.Time) (*roomScan, error) {
	s := &roomScan{at: a.now(), oldest: a.now(), sent: map[string]id.EventID{}}
	from := ""
	for read := 0; read < maxLookEvents; {
		resp, err := a.client.Messages(ctx, room, from, "", mautrix.DirectionBackward, nil, lookPage)
		if err != nil {
			return nil, fmt.Errorf("look for earlier sends in %s: %w", room, a.wrap(err))
		}
		for _, e := range resp.Chunk {
			read++
			if key, ok := e.Content.Raw[fieldEntry].(string); ok && a.ours(e.Sender) {
				if _, dup := s.sent[key]; !dup {
					s.sent[key] = e.ID
				}
			}
			if t := time.UnixMilli(e.Timestamp); t.Before(s.oldest) {
				s.oldest = t
			}
		}
		if len(resp.Chunk) == 0 || resp.End == "" || resp.End == from {
			s.complete = true
			break
		}
		if s.oldest.Before(until) {
			break
		}
		from = resp.End
	}
	return s, nil
}

// The event id of every message the adapter showed in a room is kept in
// the store (namespace "matrix", key sentKey), so that an edit or a
// deletion made on another platform changes that event, and so that a
// delivery repeated after the id was recorded sends nothing.

func sentKey(conv string, seq uint64) string {
	return "sent/" + conv + "/" + strconv.FormatUint(seq, 10)
}

// sentEvent returns the event that showed message seq of conv ("" when
// none is recorded).
func (a *Adapter) sentEvent(ctx context.Context, conv string, seq uint64) (id.EventID, error) {
	b, err := a.engine.AdapterState(ctx, stateNamespace, sentKey(conv, seq))
	if errors.Is(err, bridge.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find the event of %s/%d: %w", conv, seq, err)
	}
	return id.EventID(b), nil
}

// recordSent records the event that showed message seq of conv. It is
// written even when ctx ends: the message is in the room.
func (a *Adapter) recordSent(ctx context.Context, conv string, seq uint64, evID id.EventID) error {
	err := a.engine.SaveAdapter(context.WithoutCancel(ctx), stateNamespace, bridge.AdapterChange{
		State: map[string][]byte{sentKey(conv, seq): []byte(evID)},
	})
	if err != nil {
		return fmt.Errorf("record the event of %s/%d: %w", conv, seq, err)
	}
	return nil
}

// cardKey is the fieldEntry of a room's context card.
func cardKey(conv string) string { return "card:" + conv }
