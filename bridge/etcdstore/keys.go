package etcdstore

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Key layout, below the store's prefix P (see the package documentation).
// Parts are joined with a NUL byte, which identifiers may not contain, so
// that a prefix scan of "c_1\x00" never reaches "c_10\x00". Numbers are 16
// lowercase hex digits, so that keys sort numerically.
const (
	kBigTx       = "bigtx"         // a large transaction being applied
	kBigLog      = "bigtx-log/"    // its redo log
	kSchema      = "meta/schema"   // layout version
	kIDBase      = "meta/idbase"   // outbox ids start above this (store copy)
	kTicketSeq   = "meta/tickets"  // last ticket number
	kLeadSeq     = "meta/leads"    // last lead number
	rVisitor     = "vis/"          // id → Visitor
	rToken       = "tok/"          // hex(token hash) → visitor id
	rTokenByVis  = "vtok/"         // visitor\0 hex(token hash) → ""
	rExternal    = "ext/"          // external id → visitor id
	rPageView    = "pv/"           // visitor\0 time nonce → PageView
	rConv        = "conv/"         // id → Conversation
	rConvVisitor = "cvis/"         // visitor\0 updated id → status
	rConvStatus  = "cst/"          // status\0 updated id → ""
	rConvAll     = "call/"         // updated id → ""
	rMessage     = "msg/"          // conversation\0 seq → Message
	rClientID    = "cid/"          // visitor\0 client id → seq conversation
	rOutbox      = "ob/"           // destination\0 id → OutboxEntry
	rOutboxDest  = "obd/"          // destination → "" (has or had entries)
	rDead        = "dl/"           // destination\0 id → OutboxEntry
	rDeadDest    = "dld/"          // destination → ""
	rSeen        = "seen/"         // key → expiry (leased)
	rSeenExpiry  = "seenx/"        // expiry key → "" (leased)
	rTicket      = "tkt/"          // number → Ticket
	rTicketTerm  = "tix/"          // term\0 ^block → 64-bit set
	rLead        = "lead/"         // number → Lead
	rCanned      = "can/"          // shortcut\0 owner → CannedResponse
	rRef         = "ref/"          // adapter\0 conversation → ref
	rRefReverse  = "rref/"         // adapter\0 ref → conversation
	rState       = "st/"           // namespace\0 key → value
	rEvent       = "ev/"           // ephemeral events between nodes (leased)
	rElection    = "elect/"        // singletons' elections
	rPresence    = "pres/"         // visitor\0 node → presence (leased)
	sep          = "\x00"          // between key parts
	schemaValue  = "2"             // current layout (2: vtok/)
	maxSeq       = math.MaxUint64  // bound for open-ended ranges
	hexWidth     = 16              // digits of a number in a key
	timeWidth    = hexWidth        // digits of a time in a key
	idShift      = 20              // outbox id = (base+revision)<<idShift | n
	idMask       = 1<<idShift - 1  //
	nonceWidth   = 8               // hex digits of a page view's nonce
	stateRefKind = "adapter state" //
)

func num(n uint64) string {
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return hex.EncodeToString(b[:])
}

func parseNum(s string) (uint64, error) {
	if len(s) < hexWidth {
		return 0, fmt.Errorf("malformed number %q in a key", s)
	}
	return strconv.ParseUint(s[:hexWidth], 16, 64)
}

// Range of time.UnixNano.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// timeKey maps t to a number that sorts like t: the zero time first, then
// every time in the range of UnixNano (outside it, clamped).
func timeKey(t time.Time) uint64 {
	switch {
	case t.IsZero():
		return 0
	case !t.After(minTime):
		return 1
	case !t.Before(maxTime):
		return math.MaxUint64
	}
	k := uint64(t.UnixNano()) ^ (1 << 63)
	if k == 0 {
		k = 1
	}
	return k
}

// indexTime is a conversation's position in its indexes: UpdatedAt to the
// second.
func indexTime(c bridge.Conversation) uint64 {
	if c.UpdatedAt.IsZero() {
		return 0
	}
	return timeKey(c.UpdatedAt.Truncate(time.Second))
}

// join joins key parts with NUL bytes.
func join(parts ...string) string { return strings.Join(parts, sep) }

// prefixEnd is the first key after every key that starts with p.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00" // every key: etcd's "from key" marker
}

// checkParts rejects empty or NUL-containing identifiers of a write.
func checkParts(op string, parts ...string) error {
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("%s: %w: empty identifier", op, bridge.ErrInvalid)
		}
		if strings.Contains(p, sep) {
			return fmt.Errorf("%s: %w: identifier contains a NUL byte", op, bridge.ErrInvalid)
		}
	}
	return nil
}

// validParts is checkParts for lookups: a bad part names no record.
func validParts(parts ...string) bool {
	for _, p := range parts {
		if p == "" || strings.Contains(p, sep) {
			return false
		}
	}
	return true
}

func errNotFound(what string, id any) error {
	return fmt.Errorf("%s %v: %w", what, id, bridge.ErrNotFound)
}
