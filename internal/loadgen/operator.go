package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Operator is an operator logged into the built-in inbox, as a browser is:
// a session cookie and the page's CSRF token.
type Operator struct {
	base    string
	http    *http.Client // with the session cookie
	jar     http.CookieJar
	csrf    string
	timeout time.Duration
}

// Base is the server this operator's requests go to.
func (o *Operator) Base() string { return o.base }

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// LoginOperator logs in through the inbox's login form (POST
// /inbox/login), follows the redirect to the inbox page and reads the CSRF
// token from it.
func LoginOperator(ctx context.Context, base, login, password string, timeout time.Duration) (*Operator, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := newHTTPClient()
	c.Jar = jar
	op := &Operator{base: strings.TrimSuffix(base, "/"), http: c, jar: jar, timeout: timeout}
	form := url.Values{"login": {login}, "password": {password}, "next": {"/inbox/"}}
	lctx, cancel := context.WithTimeout(ctx, max(timeout, 30*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(lctx, http.MethodPost, op.base+"/inbox/login", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req) // follows the 303 to the inbox page, with the cookie
	if err != nil {
		return nil, fmt.Errorf("inbox login: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("inbox login: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("inbox login as %q: wrong login or password", login)
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("inbox login as %q: too many failed logins, the inbox refuses for a while", login)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("inbox login: %w", &HTTPError{Status: resp.StatusCode})
	}
	m := csrfMeta.FindSubmatch(b)
	if m == nil {
		return nil, errors.New("inbox login: no CSRF token on the inbox page (is the inbox enabled at /inbox/?)")
	}
	op.csrf = string(m[1])
	return op, nil
}

// On returns this operator's session on another node of the same cluster,
// where inbox sessions are in the shared store: the session cookie is
// copied to base (cookies do not follow a change of host), and the inbox
// page read there for the CSRF token, as a browser sent to another node by
// a load balancer would. shared is false when base does not know the
// session (a server with a store of its own): then the returned operator
// is nil, and the caller may log in there instead.
func (o *Operator) On(ctx context.Context, base string) (op *Operator, shared bool, err error) {
	base = strings.TrimSuffix(base, "/")
	from, err := url.Parse(o.base + "/inbox/")
	if err != nil {
		return nil, false, err
	}
	to, err := url.Parse(base + "/inbox/")
	if err != nil {
		return nil, false, err
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, false, err
	}
	var cs []*http.Cookie
	for _, c := range o.jar.Cookies(from) {
		cs = append(cs, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/inbox"})
	}
	jar.SetCookies(to, cs)
	c := newHTTPClient()
	c.Jar = jar
	op = &Operator{base: base, http: c, jar: jar, timeout: o.timeout}
	gctx, cancel := context.WithTimeout(ctx, max(o.timeout, 30*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(gctx, http.MethodGet, to.String(), nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := c.Do(req) // an unknown session is sent to the login page
	if err != nil {
		return nil, false, fmt.Errorf("inbox page on %s: %w", base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, false, fmt.Errorf("inbox page on %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("inbox page on %s: %w", base, &HTTPError{Status: resp.StatusCode})
	}
	m := csrfMeta.FindSubmatch(b)
	if strings.HasSuffix(resp.Request.URL.Path, "/login") || m == nil {
		return nil, false, nil
	}
	op.csrf = string(m[1])
	return op, true, nil
}

// Reply sends a reply as the inbox page's script does: POST
// /inbox/c/{id}/reply with the form fields event_id and text, the CSRF
// token in X-CSRF-Token, and Accept: application/json.
func (o *Operator) Reply(ctx context.Context, convID, eventID, text string) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	form := url.Values{"event_id": {eventID}, "text": {text}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.base+"/inbox/c/"+url.PathEscape(convID)+"/reply", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", o.csrf)
	resp, err := o.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		he := &HTTPError{Status: resp.StatusCode}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil {
			he.Message = e.Error
		}
		return he
	}
	return nil
}

// LiveEvent is one event of the inbox's live stream.
type LiveEvent struct {
	Kind           string `json:"kind"`
	ConversationID string `json:"conversation_id"`
	VisitorID      string `json:"visitor_id"`
	Seq            uint64 `json:"seq"`
	From           string `json:"from"`
}

// Events opens the inbox's live stream (GET /inbox/events, Server-Sent
// Events, what operators' pages listen to) and calls fn with each event
// and when its line was read, until ctx ends or the stream does. ready is
// called once the server has answered.
func (o *Operator) Events(ctx context.Context, ready func(), fn func(LiveEvent, time.Time)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base+"/inbox/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := o.http.Do(req)
	if err != nil {
		return fmt.Errorf("inbox events: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("inbox events: %w", &HTTPError{Status: resp.StatusCode})
	}
	ready()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		data, ok := strings.CutPrefix(string(line), "data:")
		if !ok {
			continue // comments (": ping"), retry:, blank separators
		}
		at := time.Now()
		var ev LiveEvent
		if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &ev); err != nil {
			continue
		}
		fn(ev, at)
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("inbox events: %w", err)
	}
	return errors.New("inbox events: the server ended the stream")
}
