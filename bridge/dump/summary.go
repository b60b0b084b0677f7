package dump

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// Sum is the count and checksum of a set of records: the sum, modulo
// 2^128, of the first 16 bytes of the SHA-256 of each record's canonical
// JSON (times in UTC). Sums do not depend on the order of the records, so
// two backends that list them differently agree.
type Sum struct {
	Count  int
	hi, lo uint64
}

func (s *Sum) add(b []byte) {
	h := sha256.Sum256(b)
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, binary.BigEndian.Uint64(h[8:16]), 0)
	s.hi, _ = bits.Add64(s.hi, binary.BigEndian.Uint64(h[:8]), carry)
	s.Count++
}

func (s *Sum) merge(o Sum) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, o.lo, 0)
	s.hi, _ = bits.Add64(s.hi, o.hi, carry)
	s.Count += o.Count
}

// Checksum is the sum in hex.
func (s Sum) Checksum() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], s.hi)
	binary.BigEndian.PutUint64(b[8:], s.lo)
	return hex.EncodeToString(b[:])
}

// Summary sums a store's records by kind. The outbox counter is kept
// apart (backends number outbox entries differently).
type Summary struct {
	Kinds  map[Kind]Sum
	Outbox uint64 // CounterOutbox
}

// NewSummary returns an empty summary.
func NewSummary() Summary { return Summary{Kinds: map[Kind]Sum{}} }

// Add counts r.
func (s *Summary) Add(r Record) {
	if r.Kind == Counter && r.Key == CounterOutbox {
		s.Outbox = max(s.Outbox, r.Seq)
		return
	}
	sum := s.Kinds[r.Kind]
	sum.add(canonical(r))
	s.Kinds[r.Kind] = sum
}

// canonical is r's JSON with every time in UTC.
func canonical(r Record) []byte {
	utc := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	r.Expires = r.Expires.UTC()
	switch {
	case r.Visitor != nil:
		v := *r.Visitor
		utc(&v.CreatedAt)
		utc(&v.LastSeenAt)
		r.Visitor = &v
	case r.PageView != nil:
		pv := *r.PageView
		utc(&pv.At)
		r.PageView = &pv
	case r.Conversation != nil:
		c := *r.Conversation
		for _, t := range []*time.Time{&c.CreatedAt, &c.UpdatedAt, &c.ClosedAt, &c.LastVisitorAt, &c.LastOperatorAt, &c.WaitingSince} {
			utc(t)
		}
		r.Conversation = &c
	case r.Message != nil:
		m := *r.Message
		utc(&m.At)
		utc(&m.EditedAt)
		r.Message = &m
	case r.Entry != nil:
		e := *r.Entry
		utc(&e.CreatedAt)
		utc(&e.NextAttempt)
		utc(&e.DeadAt)
		r.Entry = &e
	case r.Ticket != nil:
		tk := *r.Ticket
		utc(&tk.CreatedAt)
		r.Ticket = &tk
	case r.Lead != nil:
		l := *r.Lead
		utc(&l.CreatedAt)
		r.Lead = &l
	case r.Canned != nil:
		c := *r.Canned
		utc(&c.LastUsed)
		r.Canned = &c
	}
	b, _ := json.Marshal(r) // every field marshals
	return b
}

// Roles groups the kinds by the store role that keeps them, for reports.
var Roles = []struct {
	Name  string
	Kinds []Kind
}{
	{"visitors", []Kind{Visitor, Token, ExternalID, PageView}},
	{"conversations", []Kind{Conversation, Message, ClientID}},
	{"outbox", []Kind{Outbox, Dead, Destination}},
	{"dedup", []Kind{Seen}},
	{"records", []Kind{Ticket, Lead, Counter}},
	{"canned", []Kind{Canned}},
	{"adapters", []Kind{Ref, State}},
}

// RoleSum is a role's part of a summary.
type RoleSum struct {
	Role string
	Sum
	// Counts by kind, "visitor=3 token=4".
	Detail string
}

// ByRole sums s by role.
func (s Summary) ByRole() []RoleSum {
	out := make([]RoleSum, 0, len(Roles))
	for _, r := range Roles {
		rs := RoleSum{Role: r.Name}
		var parts []string
		for _, k := range r.Kinds {
			ks := s.Kinds[k]
			rs.merge(ks)
			parts = append(parts, fmt.Sprintf("%s=%d", k, ks.Count))
		}
		rs.Detail = strings.Join(parts, " ")
		out = append(out, rs)
	}
	return out
}

// Compare reports every kind whose count or checksum differs between the
// source and the target, and a target outbox counter below the source's.
func Compare(src, dst Summary) error {
	var diffs []string
	for _, k := range Kinds {
		a, b := src.Kinds[k], dst.Kinds[k]
		if a != b {
			diffs = append(diffs, fmt.Sprintf("%s: %d records (%s) in the source, %d (%s) in the target", k, a.Count, a.Checksum(), b.Count, b.Checksum()))
		}
	}
	if dst.Outbox < src.Outbox {
		diffs = append(diffs, fmt.Sprintf("outbox ids: the target continues from %d, below the source's %d", dst.Outbox, src.Outbox))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("the copy differs from the source:\n  %s", strings.Join(diffs, "\n  "))
	}
	return nil
}
