package matrix

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// maxGhosts bounds the ghosts remembered in memory; forgetting one only
// costs a few idempotent requests the next time it speaks.
const maxGhosts = 10000

// ghost is a visitor's ghost user in appservice mode: the appservice acts
// as it with its as_token and ?user_id=.
type ghost struct {
	id     id.UserID
	client *mautrix.Client

	mu         sync.Mutex // one ensure at a time
	registered bool
	name       string             // display name set in this process
	rooms      map[id.RoomID]bool // rooms joined in this process
}

// ghostID is the user id of a visitor's ghost: the prefix and the visitor
// id on the bot's server.
func (a *Adapter) ghostID(visitorID string) id.UserID {
	return id.NewUserID(a.cfg.ghostPrefix()+ghostLocalpart(visitorID), a.cfg.server())
}

// ghostLocalpart keeps a visitor id ("v_abc…") as it is when it is a
// valid localpart, and writes other bytes as "=xx".
func ghostLocalpart(visitorID string) string {
	var b strings.Builder
	for i := 0; i < len(visitorID); i++ {
		c := visitorID[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("._-/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02x", c)
		}
	}
	return b.String()
}

// isGhost reports whether u is one of this appservice's ghost users.
func (a *Adapter) isGhost(u id.UserID) bool {
	return a.as && u.Homeserver() == a.cfg.server() && strings.HasPrefix(u.Localpart(), a.cfg.ghostPrefix())
}

// ours reports whether u is the bot or (appservice mode) a ghost: their
// events are what the bridge itself sent.
func (a *Adapter) ours(u id.UserID) bool { return u == a.bot || a.isGhost(u) }

// ghostOf returns the visitor's ghost, creating its client.
func (a *Adapter) ghostOf(visitorID string) (*ghost, error) {
	uid := a.ghostID(visitorID)
	a.mu.Lock()
	defer a.mu.Unlock()
	if g := a.ghosts[uid]; g != nil {
		return g, nil
	}
	client, err := mautrix.NewClient(a.cfg.HomeserverURL, uid, a.cfg.ASToken)
	if err != nil {
		return nil, fmt.Errorf("ghost %s: %w", uid, err)
	}
	client.Client = a.client.Client
	client.SetAppServiceUserID = true
	if len(a.ghosts) >= maxGhosts {
		clear(a.ghosts)
	}
	g := &ghost{id: uid, client: client, rooms: map[id.RoomID]bool{}}
	a.ghosts[uid] = g
	return g, nil
}

// ensureGhost makes the visitor's ghost exist (registered in the
// appservice's namespace), carry the visitor's name and be in room. Each
// step is idempotent on the homeserver and done once per process.
func (a *Adapter) ensureGhost(ctx context.Context, room id.RoomID, v bridge.Visitor) (*ghost, error) {
	g, err := a.ghostOf(v.ID)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.registered {
		_, err := g.client.MakeRequest(ctx, "POST", g.client.BuildClientURL("v3", "register"), &mautrix.ReqRegister[any]{
			Username: g.id.Localpart(), Type: mautrix.AuthTypeAppservice, InhibitLogin: true,
		}, nil)
		if err != nil && !errors.Is(err, mautrix.MUserInUse) {
			return nil, fmt.Errorf("register ghost %s: %w", g.id, a.wrap(err))
		}
		g.registered = true
	}
	if name := v.DisplayName(); g.name != name {
		if err := g.client.SetDisplayName(ctx, name); err != nil {
			return nil, fmt.Errorf("name ghost %s: %w", g.id, a.wrap(err))
		}
		g.name = name
	}
	if !g.rooms[room] {
		// The room is invitation-only: the bot invites, the ghost accepts.
		// An invitation of a member who is already in fails harmlessly.
		if _, err := a.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: g.id}); err != nil {
			a.log.Debug("matrix ghost not invited", "room", room, "user", g.id, "err", err)
		}
		if _, err := g.client.JoinRoomByID(ctx, room); err != nil {
			return nil, fmt.Errorf("ghost %s joins %s: %w", g.id, room, a.wrap(err))
		}
		g.rooms[room] = true
	}
	return g, nil
}

// typist is who shows a visitor typing in room: the visitor's ghost when
// it is in the room (appservice mode), else the bot.
func (a *Adapter) typist(ctx context.Context, conversationID string, room id.RoomID) *mautrix.Client {
	if !a.as {
		return a.client
	}
	conv, err := a.engine.Conversation(ctx, conversationID)
	if err != nil {
		return a.client
	}
	a.mu.Lock()
	g := a.ghosts[a.ghostID(conv.VisitorID)]
	a.mu.Unlock()
	if g == nil {
		return a.client
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.rooms[room] {
		return a.client
	}
	return g.client
}
