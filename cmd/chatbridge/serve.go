package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/internal/admin"
	"github.com/chatbridge/chatbridge/internal/app"
	"github.com/chatbridge/chatbridge/internal/config"
)

func newServeCmd(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the bridge: visitor API, widget, operator inbox and adapters",
		Long: `Run the bridge until SIGINT or SIGTERM.

With no configuration file it runs on the embedded defaults: data in
./chatbridge-data, the demo page and visitor API on http://127.0.0.1:8080,
the operator inbox at /inbox, and /metrics with the detailed /healthz on
http://127.0.0.1:9191.

With no [[inbox.operators]] configured, a server started on a terminal makes
a temporary operator "admin" and shows its password there once (never in a
log); otherwise (under systemd, in a container) nobody can log in until an
operator is added with ` + "`chatbridge inbox add-operator <login>`" + `.

At start it warns (on standard error) about every setting that is unsafe
for a server that others reach; ` + "`chatbridge config check`" + ` lists the same.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := g.loadConfig()
			if err != nil {
				return configError(path, err)
			}
			if listen != "" {
				cfg.Server.Listen = listen
			}
			return serve(cmd.Context(), cfg, path, cmd.OutOrStdout(), cmd.ErrOrStderr(), isTerminal(cmd.OutOrStdout()))
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "listen address (overrides server.listen)")
	return cmd
}

func configError(path string, err error) error {
	var cerr *config.Errors
	if errors.As(err, &cerr) {
		if path == "" {
			path = "configuration"
		}
		return fmt.Errorf("%s has problems (run `chatbridge config check`):\n%w", path, err)
	}
	return err
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the server until ctx ends, then shuts down gracefully: stop
// accepting, drain HTTP, stop the delivery workers, close the store.
// interactive says that a person reads stdout on a terminal: only then may
// a temporary inbox password be made, and shown there.
func serve(ctx context.Context, cfg config.Config, cfgPath string, stdout, stderr io.Writer, interactive bool) error {
	log := newLogger(cfg.Log, stderr)
	start := time.Now()
	for _, w := range cfg.Warnings() {
		log.Warn("unsafe setting for a server others reach", "key", w.Path, "why", w.Msg)
	}
	a, err := app.Open(cfg, log, app.Options{Interactive: interactive})
	if err != nil {
		return configError(cfgPath, err)
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	if err := checkBlobs(ctx, a); err != nil {
		return err
	}
	a.Mux.HandleFunc("GET /healthz", healthz(a, false))

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on server.listen: %w", err)
	}
	defer ln.Close()
	// The operations endpoints have their own listener, loopback by
	// default: metrics and failure reasons (which may name secret URLs)
	// never reach the public one.
	var opsLn net.Listener
	if cfg.Server.AdminListen != "" {
		if opsLn, err = net.Listen("tcp", cfg.Server.AdminListen); err != nil {
			return fmt.Errorf(`listen on server.admin_listen: %w (choose another address, or "" to disable /metrics and the detailed /healthz)`, err)
		}
		defer opsLn.Close()
	}
	base := cfg.Server.BaseURL()
	if cfg.Server.PublicURL == "" {
		cfg.Server.Listen = ln.Addr().String() // a ":0" listen gets its real port
		base = cfg.Server.BaseURL()
	}
	servers := []*http.Server{newHTTPServer(a.Mux, cfg.Server, log)}
	listeners := []net.Listener{ln}
	for _, c := range a.Closers() {
		servers[0].RegisterOnShutdown(c.Close)
	}
	if opsLn != nil {
		ops := http.NewServeMux()
		ops.Handle("GET /metrics", a.Metrics())
		ops.HandleFunc("GET /healthz", healthz(a, true))
		if cfg.Server.Pprof {
			ops.HandleFunc("/debug/pprof/", pprof.Index)
			ops.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			ops.HandleFunc("/debug/pprof/profile", pprof.Profile)
			ops.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			ops.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		servers = append(servers, newHTTPServer(ops, cfg.Server, log))
		listeners = append(listeners, opsLn)
	}

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	runners := a.Runners()
	errc := make(chan error, len(runners)+len(servers))
	for _, r := range runners {
		wg.Go(func() {
			if err := r.Run(runCtx); err != nil && runCtx.Err() == nil {
				errc <- err
			}
		})
	}
	for i, srv := range servers {
		wg.Go(func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
			}
		})
	}
	wg.Go(func() {
		// Without the admin socket the server still serves chats; only the
		// CLI cannot reach it while it runs, so this is not fatal.
		if err := admin.Serve(runCtx, cfg.Server.DataDir, admin.NewHandler(a.Engine, log).WithPurger(a.Retention), log); err != nil {
			log.Error("admin socket unavailable: management commands cannot reach this server while it runs", "err", err)
		}
	})

	from := cfgPath
	if from == "" {
		from = "built-in defaults (no bridge.toml)"
	}
	dbPath := filepath.Join(cfg.Server.DataDir, app.DBName)
	fmt.Fprintf(stdout, "chatbridge %s ready in %s (config: %s, data: %s)\n", buildInfo().Version, time.Since(start).Round(time.Millisecond), from, dbPath)
	fmt.Fprintf(stdout, "  listening on:   http://%s\n", ln.Addr())
	if opsLn != nil {
		fmt.Fprintf(stdout, "  operations:     http://%s/metrics and /healthz (no authentication: keep it private)\n", opsLn.Addr())
		if cfg.Server.Pprof {
			fmt.Fprintf(stdout, "  profiles:       http://%s/debug/pprof/\n", opsLn.Addr())
		}
	}
	for _, l := range a.Banner {
		fmt.Fprintf(stdout, "  %s\n", strings.ReplaceAll(l, "{base}", base))
	}
	// Lines with a secret go to the terminal only (they exist only then).
	for _, l := range a.Secret {
		fmt.Fprintf(stdout, "%s\n", l)
	}
	log.Info("serving", "addr", ln.Addr().String(), "public_url", base)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("stopping after a failure", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("http shutdown", "err", err)
			_ = srv.Close()
		}
	}
	stopRun()
	wg.Wait()
	log.Info("stopped")
	return runErr
}

// blobCheckTimeout bounds the check of a blob store on another service.
const blobCheckTimeout = 30 * time.Second

// accessChecker is a blob store on another service (S3) that can tell
// whether it is reachable and takes writes.
type accessChecker interface {
	CheckAccess(ctx context.Context) error
}

// checkBlobs checks, before the server starts, that a blob store on
// another service is there and takes writes: a missing bucket or wrong
// credentials stop the start with what to fix, rather than failing every
// upload later.
func checkBlobs(ctx context.Context, a *app.App) error {
	c, ok := a.Blobs.(accessChecker)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, blobCheckTimeout)
	defer cancel()
	if err := c.CheckAccess(ctx); err != nil {
		return fmt.Errorf("files.storage = %q: %w", a.Config.Files.Storage, err)
	}
	return nil
}

// healthz reports the store and each component: 200 when all are healthy,
// else 503. The public listener says only that ({"ok": …}); the
// operations listener (details) names each check and why it failed, which
// may show internal or secret URLs.
func healthz(a *app.App, details bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		type check struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Error string `json:"error,omitempty"`
		}
		checks := []check{}
		ok := true
		for _, h := range a.Engine.Health(ctx) {
			c := check{Name: h.Name, OK: h.Err == nil}
			if h.Err != nil {
				ok = false
				c.Error = h.Err.Error()
			}
			checks = append(checks, c)
		}
		status := http.StatusOK
		if !ok {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Cache-Control", "no-store")
		if !details {
			admin.WriteJSON(w, status, map[string]any{"ok": ok})
			return
		}
		out := map[string]any{"ok": ok, "checks": checks}
		if node := a.Engine.Node(); node != "" {
			// Which node answered and what it leads: delivery per
			// destination ("outbox/slack"), the Matrix sync, maintenance.
			out["cluster"] = map[string]any{"node": node, "leads": a.Engine.Singletons()}
		}
		admin.WriteJSON(w, status, out)
	}
}
