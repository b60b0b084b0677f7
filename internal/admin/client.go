package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// SocketName is the admin socket's file name in the data directory.
const SocketName = "admin.sock"

// DBName is the store's file name in the data directory.
const DBName = "chatbridge.db"

// Client calls the admin API of a running server, or of a store opened in
// this process when no server runs.
type Client struct {
	hc    *http.Client
	close func() error
	// Remote is true when the client talks to a running server.
	Remote bool
}

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

// socketAddr returns sock, or the same path relative to the working
// directory when sock is too long for a unix socket and the relative one
// is not.
func socketAddr(sock string) string {
	if len(sock) <= maxSocketPath {
		return sock
	}
	wd, err := os.Getwd()
	if err != nil {
		return sock
	}
	abs, err := filepath.Abs(sock)
	if err != nil {
		return sock
	}
	if rel, err := filepath.Rel(wd, abs); err == nil && len(rel) <= maxSocketPath {
		return rel
	}
	return sock
}

// OpenFunc opens the data directory in this process, for when no server
// runs: it returns the admin API on an engine built as serve builds it, and
// a function that releases the store. It fails with an error wrapping
// ErrLocked when another process holds the store.
type OpenFunc func(ctx context.Context) (h http.Handler, close func() error, err error)

// ErrLocked is wrapped by an OpenFunc's error when another process holds
// the store.
var ErrLocked = errors.New("store is locked by another process")

// Access says what a command does with the data: only reads it, or writes.
type Access int

const (
	// ReadOnly commands need existing data: with none, Dial says so and
	// creates nothing.
	ReadOnly Access = iota
	// Write commands (adding a canned response before the first serve) may
	// create the store when there is none yet.
	Write
)

// Dial connects to the server whose data directory is dataDir, or opens the
// store itself with open when no server answers on the admin socket. With
// no store yet, a Write dial creates it (through open); a ReadOnly one
// fails saying there is no data.
func Dial(ctx context.Context, dataDir string, open OpenFunc, access Access) (*Client, error) {
	sock := socketAddr(filepath.Join(dataDir, SocketName))
	if _, err := os.Stat(sock); err == nil {
		c := &Client{hc: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		}}, close: func() error { return nil }, Remote: true}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.Do(pctx, http.MethodGet, "/v1/ping", nil, nil)
		cancel()
		if err == nil {
			return c, nil
		}
		// A stale socket from a server that was killed: fall through.
	}
	dbPath := filepath.Join(dataDir, DBName)
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) && access != Write {
		return nil, fmt.Errorf("no chatbridge data in %s (run `chatbridge serve` first, or pass --data-dir / --config)", dataDir)
	}
	h, closeStore, err := open(ctx)
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("%s is in use by a running chatbridge, but its admin socket %s does not answer: %w", dbPath, sock, err)
	}
	if err != nil {
		return nil, err
	}
	return &Client{hc: &http.Client{Transport: inProcess{h}}, close: closeStore}, nil
}

// Close releases the store when it was opened in this process.
func (c *Client) Close() error { return c.close() }

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (when non-nil). Error answers become *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		if r, ok := body.(io.Reader); ok {
			rd = r
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				return err
			}
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://chatbridge"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin api: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("admin api: %w", err)
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err = w.Write(data)
		return err
	}
	return json.Unmarshal(data, out)
}

// inProcess is an http.RoundTripper that calls a handler directly.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	t.h.ServeHTTP(rec, req)
	return &http.Response{
		Status: http.StatusText(rec.status), StatusCode: rec.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.header, Body: io.NopCloser(&rec.body), ContentLength: int64(rec.body.Len()), Request: req,
	}, nil
}

// recorder is the http.ResponseWriter of an in-process call.
type recorder struct {
	header      http.Header
	body        bytes.Buffer
	status      int
	wroteHeader bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// Serve answers the admin API on a unix socket (mode 0600) in dataDir until
// ctx ends. A stale socket file left by a killed server is replaced.
//
// The socket is never reachable by another user, not even between its
// creation and its chmod: its directory is made private (mode 0700, owner
// only; connecting to a socket needs search permission on the directory)
// before the socket is bound, and Serve refuses to bind in a directory it
// cannot make private.
func Serve(ctx context.Context, dataDir string, h http.Handler, log *slog.Logger) error {
	sock := socketAddr(filepath.Join(dataDir, SocketName))
	ln, err := listenPrivate(sock)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute, IdleTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		_ = os.Remove(sock)
		return err
	case err := <-errc:
		return fmt.Errorf("admin socket: %w", err)
	}
}

// listenPrivate listens on the unix socket sock, mode 0600, in a directory
// only this user can enter.
func listenPrivate(sock string) (net.Listener, error) {
	if len(sock) > maxSocketPath {
		return nil, fmt.Errorf("admin socket: the path %s is %d bytes, longer than unix sockets allow (%d): use a shorter data_dir", sock, len(sock), maxSocketPath)
	}
	dir := filepath.Dir(sock)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, fi.Mode().Perm()&0o700); err != nil {
			return nil, fmt.Errorf("admin socket: %s is open to other users (%s) and cannot be made private: %w", dir, fi.Mode().Perm(), err)
		}
	}
	_ = os.Remove(sock) // we hold the store's lock, so no other server uses it
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return ln, nil
}
