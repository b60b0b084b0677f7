package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// The hot records — messages, conversations, outbox entries and visitors —
// are stored in a compact binary form: a magic byte, then fields as
// (tag, wire type) keys followed by their value, zero values left out.
// Decoders skip tags they do not know, so a field can be added without a
// migration. Values written before schema 3 are JSON (they start with '{')
// and are still read; they are re-encoded when next written.
//
// Wire types: varint (unsigned), bytes (uvarint length + bytes: strings and
// nested records), time (bytes: zigzag seconds + uvarint nanoseconds).

const magic = 0xCB

const (
	wireVarint = 0
	wireBytes  = 1
)

var errCodec = errors.New("malformed record")

// enc appends fields to a record.
type enc struct{ b []byte }

func newEnc(capHint int) *enc {
	e := &enc{b: make([]byte, 1, capHint)}
	e.b[0] = magic
	return e
}

func (e *enc) key(tag, wire int) { e.b = binary.AppendUvarint(e.b, uint64(tag)<<3|uint64(wire)) }

func (e *enc) uint(tag int, v uint64) {
	if v == 0 {
		return
	}
	e.key(tag, wireVarint)
	e.b = binary.AppendUvarint(e.b, v)
}

func (e *enc) int(tag int, v int64) { e.uint(tag, uint64(v<<1)^uint64(v>>63)) }

func (e *enc) bool(tag int, v bool) {
	if v {
		e.uint(tag, 1)
	}
}

func (e *enc) str(tag int, s string) {
	if s == "" {
		return
	}
	e.key(tag, wireBytes)
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *enc) raw(tag int, b []byte) {
	e.key(tag, wireBytes)
	e.b = binary.AppendUvarint(e.b, uint64(len(b)))
	e.b = append(e.b, b...)
}

func (e *enc) time(tag int, t time.Time) {
	if t.IsZero() {
		return
	}
	var tmp [2 * binary.MaxVarintLen64]byte
	s := t.Unix()
	n := binary.PutUvarint(tmp[:], uint64(s<<1)^uint64(s>>63))
	n += binary.PutUvarint(tmp[n:], uint64(t.Nanosecond()))
	e.raw(tag, tmp[:n])
}

// nested encodes a record inside a field (without the magic byte).
func (e *enc) nested(tag int, fn func(*enc)) {
	inner := &enc{b: make([]byte, 0, 64)}
	fn(inner)
	e.raw(tag, inner.b)
}

// dec reads fields.
type dec struct {
	b   []byte
	err error
	// current field
	tag  int
	wire int
	u    uint64
	v    []byte
}

// next moves to the next field; false at the end or on an error.
func (d *dec) next() bool {
	if d.err != nil || len(d.b) == 0 {
		return false
	}
	k, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCodec
		return false
	}
	d.b = d.b[n:]
	d.tag, d.wire = int(k>>3), int(k&7)
	switch d.wire {
	case wireVarint:
		d.u, n = binary.Uvarint(d.b)
		if n <= 0 {
			d.err = errCodec
			return false
		}
		d.b = d.b[n:]
	case wireBytes:
		l, n := binary.Uvarint(d.b)
		if n <= 0 || l > uint64(len(d.b)-n) {
			d.err = errCodec
			return false
		}
		d.v, d.b = d.b[n:n+int(l)], d.b[n+int(l):]
	default:
		d.err = fmt.Errorf("%w: wire type %d", errCodec, d.wire)
		return false
	}
	return true
}

func (d *dec) str() string { return string(d.v) }

func (d *dec) int() int64 { return int64(d.u>>1) ^ -int64(d.u&1) }

func (d *dec) time() time.Time {
	s, n := binary.Uvarint(d.v)
	if n <= 0 {
		d.err = errCodec
		return time.Time{}
	}
	ns, m := binary.Uvarint(d.v[n:])
	if m <= 0 || ns >= 1e9 {
		d.err = errCodec
		return time.Time{}
	}
	sec := int64(s>>1) ^ -int64(s&1)
	return time.Unix(sec, int64(ns)).UTC()
}

// isBinary reports whether v was written by this codec.
func isBinary(v []byte) bool { return len(v) > 0 && v[0] == magic }

func encodeOperator(e *enc, o bridge.Operator) {
	e.str(1, o.Adapter)
	e.str(2, o.ID)
	e.str(3, o.Name)
}

func decodeOperator(b []byte) (bridge.Operator, error) {
	var o bridge.Operator
	d := &dec{b: b}
	for d.next() {
		switch d.tag {
		case 1:
			o.Adapter = d.str()
		case 2:
			o.ID = d.str()
		case 3:
			o.Name = d.str()
		}
	}
	return o, d.err
}

func encodeMessage(m bridge.Message) []byte {
	e := newEnc(96 + len(m.Text))
	e.str(1, m.ConversationID)
	e.uint(2, m.Seq)
	e.uint(3, m.PublicSeq)
	e.str(4, m.ClientID)
	e.str(5, string(m.From))
	e.str(6, string(m.Visibility))
	e.str(7, m.Author)
	if m.Operator != nil {
		e.nested(8, func(e *enc) { encodeOperator(e, *m.Operator) })
	}
	e.str(9, m.Recipient)
	e.str(10, m.Text)
	e.time(11, m.At)
	e.str(12, m.PlatformID)
	if m.System != nil {
		e.nested(13, func(e *enc) { e.str(1, string(m.System.Kind)); e.str(2, m.System.Name) })
	}
	if f := m.File; f != nil {
		e.nested(14, func(e *enc) {
			e.str(1, f.Key)
			e.str(2, f.Name)
			e.str(3, f.Type)
			e.uint(4, uint64(f.Size))
			e.uint(5, uint64(f.Width))
			e.uint(6, uint64(f.Height))
			e.str(7, f.SHA256)
		})
	}
	e.bool(15, m.Emote)
	e.time(16, m.EditedAt)
	e.bool(17, m.Deleted)
	e.uint(18, m.Revision)
	return e.b
}

func decodeMessage(v []byte) (bridge.Message, error) {
	var m bridge.Message
	if !isBinary(v) {
		err := json.Unmarshal(v, &m)
		return m, err
	}
	d := &dec{b: v[1:]}
	for d.next() {
		switch d.tag {
		case 1:
			m.ConversationID = d.str()
		case 2:
			m.Seq = d.u
		case 3:
			m.PublicSeq = d.u
		case 4:
			m.ClientID = d.str()
		case 5:
			m.From = bridge.From(d.str())
		case 6:
			m.Visibility = bridge.Visibility(d.str())
		case 7:
			m.Author = d.str()
		case 8:
			o, err := decodeOperator(d.v)
			if err != nil {
				return m, err
			}
			m.Operator = &o
		case 9:
			m.Recipient = d.str()
		case 10:
			m.Text = d.str()
		case 11:
			m.At = d.time()
		case 12:
			m.PlatformID = d.str()
		case 13:
			var ev bridge.SystemEvent
			n := &dec{b: d.v}
			for n.next() {
				switch n.tag {
				case 1:
					ev.Kind = bridge.SystemKind(n.str())
				case 2:
					ev.Name = n.str()
				}
			}
			if n.err != nil {
				return m, n.err
			}
			m.System = &ev
		case 14:
			var f bridge.Attachment
			n := &dec{b: d.v}
			for n.next() {
				switch n.tag {
				case 1:
					f.Key = n.str()
				case 2:
					f.Name = n.str()
				case 3:
					f.Type = n.str()
				case 4:
					f.Size = int64(n.u)
				case 5:
					f.Width = int(n.u)
				case 6:
					f.Height = int(n.u)
				case 7:
					f.SHA256 = n.str()
				}
			}
			if n.err != nil {
				return m, n.err
			}
			m.File = &f
		case 15:
			m.Emote = d.u != 0
		case 16:
			m.EditedAt = d.time()
		case 17:
			m.Deleted = d.u != 0
		case 18:
			m.Revision = d.u
		}
	}
	return m, d.err
}

func encodeConversationBody(c bridge.Conversation) []byte {
	e := newEnc(160 + len(c.Preview))
	e.str(1, c.ID)
	e.str(2, c.VisitorID)
	e.str(3, string(c.Status))
	e.time(4, c.CreatedAt)
	e.time(5, c.UpdatedAt)
	e.time(6, c.ClosedAt)
	e.uint(7, c.LastSeq)
	e.uint(8, c.LastPublicSeq)
	e.uint(9, c.LastRevision)
	e.time(10, c.LastVisitorAt)
	e.time(11, c.LastOperatorAt)
	e.time(12, c.WaitingSince)
	for _, o := range c.Operators {
		e.nested(13, func(e *enc) { encodeOperator(e, o) })
	}
	e.str(14, c.Preview)
	return e.b
}

func decodeConversationBody(v []byte) (bridge.Conversation, error) {
	var c bridge.Conversation
	if !isBinary(v) {
		err := json.Unmarshal(v, &c)
		return c, err
	}
	d := &dec{b: v[1:]}
	for d.next() {
		switch d.tag {
		case 1:
			c.ID = d.str()
		case 2:
			c.VisitorID = d.str()
		case 3:
			c.Status = bridge.Status(d.str())
		case 4:
			c.CreatedAt = d.time()
		case 5:
			c.UpdatedAt = d.time()
		case 6:
			c.ClosedAt = d.time()
		case 7:
			c.LastSeq = d.u
		case 8:
			c.LastPublicSeq = d.u
		case 9:
			c.LastRevision = d.u
		case 10:
			c.LastVisitorAt = d.time()
		case 11:
			c.LastOperatorAt = d.time()
		case 12:
			c.WaitingSince = d.time()
		case 13:
			o, err := decodeOperator(d.v)
			if err != nil {
				return c, err
			}
			c.Operators = append(c.Operators, o)
		case 14:
			c.Preview = d.str()
		}
	}
	return c, d.err
}

func encodeOutbox(o bridge.OutboxEntry) []byte {
	e := newEnc(80)
	e.uint(1, o.ID)
	e.str(2, o.Destination)
	e.str(3, string(o.Kind))
	e.str(4, o.ConversationID)
	e.uint(5, o.Seq)
	e.uint(6, o.Number)
	e.time(7, o.CreatedAt)
	e.uint(8, uint64(max(o.Attempts, 0)))
	e.time(9, o.NextAttempt)
	e.str(10, o.LastError)
	e.time(11, o.DeadAt)
	return e.b
}

func decodeOutbox(v []byte) (bridge.OutboxEntry, error) {
	var o bridge.OutboxEntry
	if !isBinary(v) {
		err := json.Unmarshal(v, &o)
		return o, err
	}
	d := &dec{b: v[1:]}
	for d.next() {
		switch d.tag {
		case 1:
			o.ID = d.u
		case 2:
			o.Destination = d.str()
		case 3:
			o.Kind = bridge.OutboxKind(d.str())
		case 4:
			o.ConversationID = d.str()
		case 5:
			o.Seq = d.u
		case 6:
			o.Number = d.u
		case 7:
			o.CreatedAt = d.time()
		case 8:
			if d.u > math.MaxInt32 {
				return o, errCodec
			}
			o.Attempts = int(d.u)
		case 9:
			o.NextAttempt = d.time()
		case 10:
			o.LastError = d.str()
		case 11:
			o.DeadAt = d.time()
		}
	}
	return o, d.err
}

func encodeVisitor(v bridge.Visitor) []byte {
	e := newEnc(128)
	e.str(1, v.ID)
	e.str(2, v.Name)
	e.str(3, v.Email)
	e.str(4, v.Locale)
	e.str(5, v.Country)
	e.str(6, v.UserAgent)
	e.str(7, v.IP)
	e.str(8, v.ExternalID)
	e.time(9, v.CreatedAt)
	e.time(10, v.LastSeenAt)
	e.str(11, v.CurrentURL)
	e.str(12, v.Referrer)
	return e.b
}

func decodeVisitor(b []byte) (bridge.Visitor, error) {
	var v bridge.Visitor
	if !isBinary(b) {
		err := json.Unmarshal(b, &v)
		return v, err
	}
	d := &dec{b: b[1:]}
	for d.next() {
		switch d.tag {
		case 1:
			v.ID = d.str()
		case 2:
			v.Name = d.str()
		case 3:
			v.Email = d.str()
		case 4:
			v.Locale = d.str()
		case 5:
			v.Country = d.str()
		case 6:
			v.UserAgent = d.str()
		case 7:
			v.IP = d.str()
		case 8:
			v.ExternalID = d.str()
		case 9:
			v.CreatedAt = d.time()
		case 10:
			v.LastSeenAt = d.time()
		case 11:
			v.CurrentURL = d.str()
		case 12:
			v.Referrer = d.str()
		}
	}
	return v, d.err
}
