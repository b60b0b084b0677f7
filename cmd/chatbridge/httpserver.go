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

// bodyDeadline gives a request with a body d to send it: the connection's
// read deadline is set when the handler starts and cleared as soon as the
// body has been read (or failed). Requests without a body (GET: long
// polls, streams) get no deadline at all.
func bodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, clear: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody clears the read deadline once its body ended. After a
// failed read (the deadline passed) it stays, so that the server does not
// wait for the rest of the body either: it closes the connection.
type deadlineBody struct {
	io.ReadCloser
	once  sync.Once
	clear func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.once.Do(b.clear)
	}
	return n, err
}

// isTerminal reports whether w is a terminal that a person reads.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
