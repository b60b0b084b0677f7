// Package app wires chatbridge together, once, for every command that needs
// it: `serve`, `config check` and the CLI's management commands when no
// server holds the data directory. Check runs exactly the validation Open
// does; Open builds the same store, engine and components whether a server
// is about to run them or the CLI only reads and writes records.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
	"github.com/chatbridge/chatbridge/bridge/blobs3"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/canned"
	"github.com/chatbridge/chatbridge/internal/config"
)

// DBName is the store's file name in the data directory.
const DBName = "chatbridge.db"

// ErrLocked: another process (a running server) holds the store.
var ErrLocked = boltstore.ErrLocked

// Runner is a component that runs beside the server until ctx ends
// (delivery loops, sync loops, session purges).
type Runner interface {
	Run(ctx context.Context) error
}

// Closer is a component with live connections to end when the server
// starts shutting down (visitor streams, inbox pages).
type Closer interface {
	Close()
}

// App is chatbridge built from a configuration.
type App struct {
	Config config.Config
	Log    *slog.Logger
	// Store is the open store; Close closes it.
	Store bridge.Store
	// Blobs keeps the bytes of files ([files] storage).
	Blobs  bridge.BlobStore
	Engine *bridge.Engine
	// Mux serves every HTTP surface the components mounted.
	Mux *http.ServeMux
	// Components are the built components, in the order of parts.
	Components []any
	// Retention purges old closed conversations ([retention]) and serves
	// `chatbridge purge`; it runs with the Runners.
	Retention *Retention
	// Banner lines describe what runs ("{base}" stands for the public URL).
	Banner []string
	// Secret lines go to the terminal only, never to a log (a temporary
	// inbox password).
	Secret []string

	opts Options

	resume func(context.Context, string) (string, error)
}

// Check validates cfg as Open would: the file's own rules (config.Parse
// ran them already) and every enabled component's own checks. It opens
// nothing. Problems come back as *config.Errors, one per key.
func Check(cfg config.Config) error {
	errs := &config.Errors{}
	if err := cfg.Validate(); err != nil {
		var ce *config.Errors
		if !errors.As(err, &ce) {
			return err
		}
		errs.Fields = append(errs.Fields, ce.Fields...)
	}
	seen := map[string]bool{}
	for _, f := range errs.Fields {
		seen[f.Error()] = true
	}
	for _, err := range storeCheck(cfg) {
		if f := fieldOf(err); !seen[f.Error()] {
			seen[f.Error()] = true
			errs.Fields = append(errs.Fields, f)
		}
	}
	for _, p := range parts(cfg) {
		for _, err := range p.check() {
			f := fieldOf(err)
			if !seen[f.Error()] { // the file's rules and a component may agree
				seen[f.Error()] = true
				errs.Fields = append(errs.Fields, f)
			}
		}
	}
	if len(errs.Fields) == 0 {
		return nil
	}
	return errs
}

// fieldOf reads "key.path: message" errors as field errors (without the
// "invalid input: " of bridge.ErrInvalid).
func fieldOf(err error) config.FieldError {
	path, msg, ok := strings.Cut(err.Error(), ": ")
	if !ok || strings.ContainsAny(path, " ") {
		return config.FieldError{Path: "configuration", Msg: err.Error()}
	}
	msg = strings.TrimPrefix(msg, bridge.ErrInvalid.Error()+": ")
	return config.FieldError{Path: path, Msg: msg}
}

// Options tune Open.
type Options struct {
	// LockTimeout is how long Open waits for the store's file lock
	// (default 1 s).
	LockTimeout time.Duration
	// Interactive: the server's output is a terminal that a person reads,
	// so a temporary inbox operator may be made when none is configured
	// (see Secret).
	Interactive bool
}

// Open checks cfg (Check), opens the store in cfg.Server.DataDir (creating
// the directory, mode 0700, and the file, mode 0600; an existing directory
// or file that others may read is tightened to these modes) and builds the engine and every enabled
// component on it, registered with the engine as what they offer. Nothing
// runs yet: serve runs the engine and the Runners; the CLI uses the engine
// directly. When another process holds the store, the error wraps
// ErrLocked.
func Open(cfg config.Config, log *slog.Logger, opts Options) (*App, error) {
	if err := Check(cfg); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	tighten(log, cfg.Server.DataDir, 0o700)
	st, err := openStore(cfg, log, opts)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Store: st, Mux: http.NewServeMux(), opts: opts}
	if a.Blobs, err = openBlobs(cfg, log); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := a.build(); err != nil {
		_ = st.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) build() error {
	cfg := a.Config
	var err error
	a.Engine, err = bridge.New(bridge.Config{
		MaxMessageBytes:   cfg.Visitor.MaxMessageBytes,
		VisitorIdleTTL:    cfg.Visitor.TokenIdleTTL.Duration(),
		GiveUpAfter:       cfg.Outbox.GiveUpAfter.Duration(),
		CheckCanned:       canned.Validate,
		ConversationState: conversationState(cfg),
	}, a.Store, a.Log)
	if err != nil {
		return err
	}
	m := newMetrics(a.Engine)
	if err := a.Engine.Register(m); err != nil {
		return err
	}
	a.Retention = newRetention(a, m.reg)
	a.Components = append(a.Components, m, a.Retention)
	if st, ok := a.Store.(*etcdstore.Store); ok {
		m.reg.MustRegister(etcdCollector{st: st})
		if every := cfg.Store.CompactEvery.Duration(); every > 0 {
			a.Components = append(a.Components, &etcdMaintenance{a: a, st: st, every: every, keep: cfg.Store.CompactKeep.Duration()})
		}
	}
	for _, p := range parts(cfg) {
		c, err := p.build(a)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if engineComponent(c) {
			if err := a.Engine.Register(c); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
		a.Components = append(a.Components, c)
	}
	return nil
}

// openBlobs opens the blob store [files] names. An S3 store makes no
// request here: serve checks that it takes writes before it starts.
func openBlobs(cfg config.Config, log *slog.Logger) (bridge.BlobStore, error) {
	switch cfg.Files.Storage {
	case "dir":
		return blobdir.Open(FilesDir(cfg))
	case "s3":
		return blobs3.New(s3Config(cfg), log.With("component", "files"))
	}
	return nil, fmt.Errorf("files.storage: %q is not supported by this build", cfg.Files.Storage)
}

// FilesDir is the directory of files with storage "dir".
func FilesDir(cfg config.Config) string {
	if cfg.Files.Dir != "" {
		return cfg.Files.Dir
	}
	return filepath.Join(cfg.Server.DataDir, "files")
}

// engineComponent reports whether the engine uses c (see
// bridge.Engine.Register).
func engineComponent(c any) bool {
	switch c.(type) {
	case bridge.Deliverer, bridge.Whisperer, bridge.Interceptor, bridge.HealthChecker, bridge.Metrics:
		return true
	}
	return false
}

// handle mounts h on the app's mux.
func (a *App) handle(pattern string, h http.Handler) { a.Mux.Handle(pattern, h) }

// say adds banner lines.
func (a *App) say(lines ...string) { a.Banner = append(a.Banner, lines...) }

// secret adds lines for the terminal only.
func (a *App) secret(lines ...string) { a.Secret = append(a.Secret, lines...) }

// Runners are the components that run beside the server, the engine first.
func (a *App) Runners() []Runner {
	out := []Runner{a.Engine}
	for _, c := range a.Components {
		if r, ok := c.(Runner); ok {
			out = append(out, r)
		}
	}
	return out
}

// Closers are the components to close when the server starts shutting
// down.
func (a *App) Closers() []Closer {
	var out []Closer
	for _, c := range a.Components {
		if cl, ok := c.(Closer); ok {
			out = append(out, cl)
		}
	}
	return out
}

// Metrics serves the Prometheus metrics.
func (a *App) Metrics() http.Handler {
	for _, c := range a.Components {
		if m, ok := c.(*metrics); ok {
			return m.handler()
		}
	}
	return http.NotFoundHandler()
}

// Close closes the store.
func (a *App) Close() error { return a.Store.Close() }

// tighten removes the group and other permission bits of path (which may
// not exist yet) down to mode, and logs when it changed something: the
// data directory holds the conversations and the admin socket, which only
// chatbridge's own user may reach. A path it cannot change (another
// owner's) is logged, not fatal: the store's own checks decide.
func tighten(log *slog.Logger, path string, mode os.FileMode) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&^mode == 0 {
		return
	}
	if err := os.Chmod(path, fi.Mode().Perm()&mode); err != nil {
		log.Warn("cannot tighten permissions: others may read chatbridge's data", "path", path, "mode", fi.Mode().Perm().String(), "err", err)
		return
	}
	log.Info("tightened permissions: others could read chatbridge's data", "path", path, "was", fi.Mode().Perm().String(), "now", (fi.Mode().Perm() & mode).String())
}
