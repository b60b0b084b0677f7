package main

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/chatbridge/chatbridge/internal/config"
)

// newHTTPServer is an http.Server for h with the timeouts of [server]: a
// client has read_timeout to send its headers, then read_timeout to send
// its body; a kept-alive connection idle for idle_timeout is closed.
//
// There is deliberately no http.Server.ReadTimeout: it would stay armed
// after the request was read, and when it fires during a long poll, a
// WebSocket stream or the inbox's event stream, the server cancels the
// request (its background read fails). bodyDeadline instead arms a read
// deadline only while a body is being read, through http.ResponseController.
func newHTTPServer(h http.Handler, s config.Server, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(s.ReadTimeout.Duration(), h),
		ReadHeaderTimeout: s.ReadTimeout.Duration(),
		IdleTimeout:       s.IdleTimeout.Duration(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// minBodyRate is the slowest pace a large body may arrive at: on top of
// read_timeout, a body gets one second per minBodyRate bytes (a 10 MiB
// upload: 10 minutes more), so that files on a slow line are not cut.
const minBodyRate = 16 << 10

// bodyDeadline gives a request with a body d to send it (plus the time a
// large body needs at minBodyRate): the connection's read deadline is set
// when the handler starts and cleared as soon as the body has been read.
// A body of unknown length (chunked) gets d again after each read that
// brought data. Requests without a body (GET: long polls, streams) get no
// deadline at all.
func bodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		allow := d
		if r.ContentLength > 0 {
			allow += time.Duration(r.ContentLength/minBodyRate) * time.Second
		}
		if err := rc.SetReadDeadline(time.Now().Add(allow)); err == nil {
			b := &deadlineBody{ReadCloser: r.Body, clear: func() { _ = rc.SetReadDeadline(time.Time{}) }}
			if r.ContentLength < 0 {
				b.progress = func() { _ = rc.SetReadDeadline(time.Now().Add(d)) }
			}
			r.Body = b
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody clears the read deadline once its body ended. After a
// failed read (the deadline passed) it stays, so that the server does not
// wait for the rest of the body either: it closes the connection.
type deadlineBody struct {
	io.ReadCloser
	once     sync.Once
	clear    func()
	progress func() // nil: the deadline does not move
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		b.once.Do(b.clear)
	case n > 0 && err == nil && b.progress != nil:
		b.progress()
	}
	return n, err
}

// isTerminal reports whether w is a terminal that a person reads.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
