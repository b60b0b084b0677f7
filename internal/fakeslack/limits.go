package fakeslack

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Slack's documented limits on what a message may carry.
const (
	// MaxTextChars is the most characters of a message's text
	// (chat.postMessage, chat.update, chat.postEphemeral, a file's
	// initial_comment); more is msg_too_long.
	MaxTextChars = 40000
	// MaxBlocks is the most blocks of a message; more is invalid_blocks.
	MaxBlocks = 50
	// MaxSectionTextChars is the most characters of a section block's
	// text; more is invalid_blocks.
	MaxSectionTextChars = 3000
	// MaxSectionFields and MaxFieldChars bound a section's fields.
	MaxSectionFields = 10
	MaxFieldChars    = 2000
	// MaxHeaderChars bounds a header block's text.
	MaxHeaderChars = 150
	// MaxContextElements bounds a context block's elements.
	MaxContextElements = 10
)

// Slack's posting limit: "1 message per second per channel, short bursts
// allowed" (chat.postMessage's special rate limit). Over it, Slack answers
// HTTP 429 with Retry-After in seconds.
const (
	DefaultPostsPerSecond = 1.0
	DefaultPostBurst      = 3
)

type rateLimit struct {
	perSecond float64
	burst     int
}

// bucket is one channel's token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// SetRateLimit changes the posting limit per channel (perSecond <= 0
// turns it off).
func (s *Server) SetRateLimit(perSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = rateLimit{perSecond: perSecond, burst: max(burst, 1)}
	clear(s.buckets)
}

// allowPost takes a token of channel's bucket, or returns how long until
// one is available; s.mu must be held.
func (s *Server) allowPost(channel string, now time.Time) (ok bool, wait time.Duration) {
	if s.limit.perSecond <= 0 {
		return true, 0
	}
	b := s.buckets[channel]
	burst := float64(s.limit.burst)
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		s.buckets[channel] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*s.limit.perSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / s.limit.perSecond * float64(time.Second))
}

// retryAfter renders a wait as Slack does: whole seconds, at least one.
func retryAfter(d time.Duration) string {
	return fmt.Sprint(max(1, int(math.Ceil(d.Seconds()))))
}

// contentError is an ok:false answer about a message's content.
type contentError struct {
	code   string
	errors []string
}

// checkContent applies Slack's limits to the text and blocks of a message
// (form values text and blocks); nil when they pass. needText: a message
// needs a text or blocks (no_text).
func checkContent(v url.Values, needText bool) *contentError {
	text, blocks := v.Get("text"), v.Get("blocks")
	if needText && strings.TrimSpace(text) == "" && blocks == "" && v.Get("attachments") == "" {
		return &contentError{code: "no_text"}
	}
	if utf8.RuneCountInString(text) > MaxTextChars {
		return &contentError{code: "msg_too_long"}
	}
	if blocks == "" {
		return nil
	}
	if errs := checkBlocks(blocks); len(errs) > 0 {
		return &contentError{code: "invalid_blocks", errors: errs}
	}
	return nil
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type block struct {
	Type     string            `json:"type"`
	Text     *textObject       `json:"text"`
	Fields   []textObject      `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
}

// checkBlocks returns Slack's complaints about a blocks array, in its
// words ("must be less than 3001 characters [json-pointer:…]").
func checkBlocks(raw string) []string {
	var blocks []block
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return []string{"invalid blocks format [json-pointer:/blocks]"}
	}
	var errs []string
	if len(blocks) > MaxBlocks {
		errs = append(errs, fmt.Sprintf("no more than %d items allowed [json-pointer:/blocks]", MaxBlocks))
	}
	tooLong := func(n int, ptr string) {
		errs = append(errs, fmt.Sprintf("must be less than %d characters [json-pointer:%s]", n+1, ptr))
	}
	for i, b := range blocks {
		ptr := fmt.Sprintf("/blocks/%d", i)
		switch b.Type {
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				errs = append(errs, "must provide text or fields [json-pointer:"+ptr+"]")
			}
			if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > MaxSectionTextChars {
				tooLong(MaxSectionTextChars, ptr+"/text/text")
			}
			if len(b.Fields) > MaxSectionFields {
				errs = append(errs, fmt.Sprintf("no more than %d items allowed [json-pointer:%s/fields]", MaxSectionFields, ptr))
			}
			for j, f := range b.Fields {
				if utf8.RuneCountInString(f.Text) > MaxFieldChars {
					tooLong(MaxFieldChars, fmt.Sprintf("%s/fields/%d/text", ptr, j))
				}
			}
		case "header":
			if b.Text == nil || utf8.RuneCountInString(b.Text.Text) > MaxHeaderChars {
				tooLong(MaxHeaderChars, ptr+"/text/text")
			}
		case "context":
			if len(b.Elements) > MaxContextElements {
				errs = append(errs, fmt.Sprintf("no more than %d items allowed [json-pointer:%s/elements]", MaxContextElements, ptr))
			}
		case "":
			errs = append(errs, "missing required field: type [json-pointer:"+ptr+"]")
		}
	}
	return errs
}
