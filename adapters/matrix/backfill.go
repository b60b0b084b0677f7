package matrix

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A sync returns at most timelineLimit events per room. When more were
// sent since the last sync (operators kept writing while chatbridge was
// down), the room's timeline is "limited": it holds the newest events and a
// prev_batch token before them. The client bot then pages back with
// /rooms/{room}/messages?dir=b from prev_batch until it reaches the last
// event it handled in that room, and handles the missing events in order,
// before the sync's own.
//
// Where it stopped is kept in the store, per room: the last timeline event
// of each handled sync response (key lastKey), written in the same commit
// as the sync token. A room with no such record (quiet since this version
// started) is paged back to the time of the last handled sync (key
// syncedAtKey), less backfillSkew; the engine drops the few events handled
// twice by their id. When neither is known, or the missing events are more
// than maxBackfill, what could not be fetched is said in the room and in
// the log: nothing is lost silently.

const (
	// maxBackfill bounds the events fetched to fill one room's gap.
	maxBackfill = 5000
	// backfillPage is the page size of /messages while back-filling.
	backfillPage = 100
	// backfillSkew widens a back-fill bounded by time, for events stamped
	// before the sync that did not yet carry them.
	backfillSkew = time.Minute
)

func lastKey(room id.RoomID) string { return "last/" + string(room) }

func syncedAtKey(u id.UserID) string { return "synced_at:" + string(u) }

// lastHandled is the last timeline event handled in a room.
type lastHandled struct {
	id id.EventID
	ts int64 // origin_server_ts, ms
}

func (l lastHandled) encode() []byte {
	return []byte(string(l.id) + "\x00" + strconv.FormatInt(l.ts, 10))
}

func decodeLastHandled(b []byte) (lastHandled, bool) {
	evID, ts, ok := strings.Cut(string(b), "\x00")
	n, err := strconv.ParseInt(ts, 10, 64)
	return lastHandled{id: id.EventID(evID), ts: n}, ok && err == nil && evID != ""
}

// gap is what a back-fill could not fetch.
type gap struct {
	room    id.RoomID
	fetched int
	oldest  time.Time // of the oldest event fetched (zero: none)
	why     string
}

// backfill fetches the events of room that a limited timeline left out,
// oldest first. g is non-nil when they could not all be fetched.
func (a *Adapter) backfill(ctx context.Context, room id.RoomID, prevBatch string) (missing []*event.Event, g *gap, err error) {
	last, haveLast, err := a.loadLast(ctx, room)
	if err != nil {
		return nil, nil, err
	}
	var since time.Time
	if !haveLast {
		b, err := a.engine.AdapterState(ctx, stateNamespace, syncedAtKey(a.bot))
		if errors.Is(err, bridge.ErrNotFound) {
			return nil, &gap{room: room, why: "chatbridge does not know which messages of this room it already handled"}, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("load matrix sync time: %w", err)
		}
		ms, perr := strconv.ParseInt(string(b), 10, 64)
		if perr != nil {
			return nil, &gap{room: room, why: "chatbridge does not know which messages of this room it already handled"}, nil
		}
		since = time.UnixMilli(ms).Add(-backfillSkew)
	}
	var got []*event.Event // newest first
	from := prevBatch
	for {
		resp, err := a.client.Messages(ctx, room, from, "", mautrix.DirectionBackward, nil, backfillPage)
		if err != nil {
			return nil, nil, fmt.Errorf("back-fill %s: %w", room, err)
		}
		for _, e := range resp.Chunk {
			switch {
			case haveLast && e.ID == last.id:
				return reversed(got), nil, nil
			case !haveLast && time.UnixMilli(e.Timestamp).Before(since):
				return reversed(got), nil, nil
			}
			got = append(got, e)
			if len(got) >= a.maxBackfill {
				return reversed(got), &gap{room: room, fetched: len(got), oldest: time.UnixMilli(e.Timestamp),
					why: fmt.Sprintf("more than %d events were written here while chatbridge was away", a.maxBackfill)}, nil
			}
		}
		if len(resp.Chunk) == 0 || resp.End == "" || resp.End == from {
			// The room's first event: everything before the sync is here.
			if haveLast {
				a.log.Warn("matrix back-fill reached the start of the room without the last handled event", "room", room, "event", last.id)
			}
			return reversed(got), nil, nil
		}
		from = resp.End
	}
}

func reversed(evs []*event.Event) []*event.Event {
	slices.Reverse(evs)
	return evs
}

func (a *Adapter) loadLast(ctx context.Context, room id.RoomID) (lastHandled, bool, error) {
	b, err := a.engine.AdapterState(ctx, stateNamespace, lastKey(room))
	if errors.Is(err, bridge.ErrNotFound) {
		return lastHandled{}, false, nil
	}
	if err != nil {
		return lastHandled{}, false, fmt.Errorf("load last handled event of %s: %w", room, err)
	}
	l, ok := decodeLastHandled(b)
	return l, ok, nil
}

// fillGaps prepends to every limited timeline of a conversation's room
// the events it left out, and returns what could not be fetched.
func (a *Adapter) fillGaps(ctx context.Context, resp *mautrix.RespSync) ([]gap, error) {
	var gaps []gap
	for room, rm := range resp.Rooms.Join {
		tl := &rm.Timeline
		if !tl.Limited || tl.PrevBatch == "" {
			continue
		}
		if len(tl.Events) > 0 && tl.Events[0].Type.Type == event.StateCreate.Type {
			continue // a new room: nothing before
		}
		conv, err := a.conversation(ctx, room)
		if err != nil {
			return nil, err
		}
		if conv == "" {
			continue
		}
		missing, g, err := a.backfill(ctx, room, tl.PrevBatch)
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			a.log.Info("matrix timeline gap filled", "room", room, "conversation", conv, "events", len(missing))
			tl.Events = append(missing, tl.Events...)
		}
		if g != nil {
			gaps = append(gaps, *g)
		}
	}
	return gaps, nil
}

// handledState is what a handled sync response leaves in the store besides
// its token: each room's last timeline event, and the time.
func (a *Adapter) handledState(resp *mautrix.RespSync) map[string][]byte {
	st := map[string][]byte{
		syncedAtKey(a.bot): []byte(strconv.FormatInt(a.now().UnixMilli(), 10)),
	}
	for room, rm := range resp.Rooms.Join {
		if n := len(rm.Timeline.Events); n > 0 {
			e := rm.Timeline.Events[n-1]
			st[lastKey(room)] = lastHandled{id: e.ID, ts: e.Timestamp}.encode()
		}
	}
	return st
}

// reportGap says in the room and in the log what a back-fill could not
// fetch.
func (a *Adapter) reportGap(ctx context.Context, g gap) {
	a.log.Error("matrix messages written while chatbridge was away may not have reached the visitor",
		"room", g.room, "fetched", g.fetched, "why", g.why)
	text := "chatbridge was away and could not fetch every message written here meanwhile: " + g.why + "."
	if !g.oldest.IsZero() {
		text += " Messages written before " + g.oldest.UTC().Format("2006-01-02 15:04:05 UTC") + " did not reach the visitor."
	} else {
		text += " Some of them may not have reached the visitor."
	}
	text += " Please send again what the visitor must know."
	c := textContent("m.notice", text, "", nil)
	c[fieldOperatorOnly] = true
	if _, err := a.client.SendMessageEvent(ctx, g.room, event.EventMessage, c); err != nil {
		a.log.Warn("matrix gap notice not sent", "room", g.room, "err", err)
	}
}
