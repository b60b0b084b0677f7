package loadgen

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Ack is one line of the acknowledged-message log (`chatbridge bench accept
// --acked FILE`): a visitor message the server answered with a 2xx, and
// what it answered. Enough to find the message again through the visitor
// API (GET /api/v1/messages with Token) and to check that the store kept
// it: in ConversationID, with Seq, once.
type Ack struct {
	// URL is the server the message was posted to.
	URL            string `json:"url"`
	Token          string `json:"token"`
	VisitorID      string `json:"visitor_id"`
	ConversationID string `json:"conversation_id"`
	ClientID       string `json:"client_id"`
	Text           string `json:"text"`
	// Seq is the message's number in its conversation, as the server
	// answered.
	Seq uint64 `json:"seq"`
	// At is when the answer was read.
	At time.Time `json:"at"`
}

// ackFlushEvery bounds how long an acknowledgement stays in the buffer.
const ackFlushEvery = 200 * time.Millisecond

// ackLog writes Acks as JSON lines, in the order the answers arrived:
// buffered, flushed every ackFlushEvery, after every failed request (the
// server may just have died: the file is current before the next attempt)
// and when the run ends. It keeps the first write error.
type ackLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	enc  *json.Encoder
	err  error
	stop chan struct{}
	done chan struct{}
}

func newAckLog(w io.Writer) *ackLog {
	bw := bufio.NewWriterSize(w, 64<<10)
	a := &ackLog{w: bw, enc: json.NewEncoder(bw), stop: make(chan struct{}), done: make(chan struct{})}
	a.enc.SetEscapeHTML(false)
	go func() {
		defer close(a.done)
		t := time.NewTicker(ackFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-t.C:
				a.flush()
			}
		}
	}()
	return a
}

// add appends one acknowledgement; nil-safe.
func (a *ackLog) add(ack Ack) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = a.enc.Encode(ack)
	}
}

// flush writes out what is buffered; nil-safe.
func (a *ackLog) flush() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = a.w.Flush()
	}
}

// close stops the periodic flushes, flushes and returns the first error.
func (a *ackLog) close() error {
	if a == nil {
		return nil
	}
	close(a.stop)
	<-a.done
	a.flush()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}
