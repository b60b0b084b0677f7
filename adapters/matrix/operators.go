package matrix

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Only operators reach the visitor. Anyone can end up in a conversation's
// room — a guest an operator invited, another bot, an admin — and what they
// write must not be relayed to the customer. An operator is one of
// Config.Operators or, when Config.OperatorPowerLevel is set, a member with
// at least that power level in the room. Anyone else who writes a message
// is told, once per message, in a notice that it was not sent.

// notOperatorText tells a non-operator that their message stayed in the
// room.
const notOperatorText = "Not sent to the visitor: only the operators of this chat reach the visitor, and you are not one of them."

// isOperator reports whether u may speak to the visitor from room.
func (a *Adapter) isOperator(ctx context.Context, room id.RoomID, u id.UserID) (bool, error) {
	if slices.Contains(a.ops, u) {
		return true, nil
	}
	if a.cfg.OperatorPowerLevel == nil {
		return false, nil
	}
	pl, err := a.powerLevels(ctx, room)
	if err != nil {
		return false, err
	}
	return pl.GetUserLevel(u) >= *a.cfg.OperatorPowerLevel, nil
}

// powerLevels returns room's power levels, read once and then kept up to
// date from the room's m.room.power_levels events (onPowerLevels).
func (a *Adapter) powerLevels(ctx context.Context, room id.RoomID) (*event.PowerLevelsEventContent, error) {
	a.mu.Lock()
	pl := a.levels[room]
	a.mu.Unlock()
	if pl != nil {
		return pl, nil
	}
	pl = &event.PowerLevelsEventContent{}
	err := a.client.StateEvent(ctx, room, event.StatePowerLevels, "", pl)
	if err != nil && !errors.Is(err, mautrix.MNotFound) {
		return nil, fmt.Errorf("read power levels of %s: %w", room, a.wrap(err))
	}
	a.setLevels(room, pl)
	return pl, nil
}

func (a *Adapter) setLevels(room id.RoomID, pl *event.PowerLevelsEventContent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.levels[room]; !ok && len(a.levels) >= maxRooms {
		clear(a.levels)
	}
	a.levels[room] = pl
}

// onPowerLevels keeps the rooms' power levels up to date (only needed when
// operators are also known by their power level).
func (a *Adapter) onPowerLevels(_ context.Context, evt *event.Event) error {
	if a.cfg.OperatorPowerLevel == nil {
		return nil
	}
	if pl := evt.Content.AsPowerLevels(); pl != nil {
		a.setLevels(evt.RoomID, pl)
	}
	return nil
}

// refuseNonOperator tells the sender of a message that is not relayed
// because they are not an operator, once per event. A notice is never
// answered (other bots' notices would start a loop of notices).
func (a *Adapter) refuseNonOperator(ctx context.Context, in bridge.OperatorInput, msgType event.MessageType) error {
	a.log.Info("matrix message of a non-operator not relayed", "conversation", in.ConversationID, "sender", in.Operator.ID, "event", in.EventID)
	if msgType == event.MsgNotice {
		return nil
	}
	return a.notice(ctx, in, notOperatorText)
}
