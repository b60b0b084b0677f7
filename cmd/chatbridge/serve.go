package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
and the operator inbox at /inbox with a one-time password printed at start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := g.loadConfig()
			if err != nil {
				return configError(path, err)
			}
			if listen != "" {
				cfg.Server.Listen = listen
			}
			return serve(cmd.Context(), cfg, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
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
func serve(ctx context.Context, cfg config.Config, cfgPath string, stdout, stderr io.Writer) error {
	log := newLogger(cfg.Log, stderr)
	start := time.Now()
	a, err := app.Open(cfg, log, app.Options{})
	if err != nil {
		return configError(cfgPath, err)
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	a.Mux.HandleFunc("GET /healthz", healthz(a))
	a.Mux.Handle("GET /metrics", a.Metrics())

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	base := cfg.Server.BaseURL()
	if cfg.Server.PublicURL == "" {
		cfg.Server.Listen = ln.Addr().String() // a ":0" listen gets its real port
		base = cfg.Server.BaseURL()
	}
	srv := &http.Server{
		Handler:           a.Mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	for _, c := range a.Closers() {
		srv.RegisterOnShutdown(c.Close)
	}

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	runners := a.Runners()
	errc := make(chan error, len(runners)+1)
	for _, r := range runners {
		wg.Go(func() {
			if err := r.Run(runCtx); err != nil && runCtx.Err() == nil {
				errc <- err
			}
		})
	}
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	})
	wg.Go(func() {
		// Without the admin socket the server still serves chats; only the
		// CLI cannot reach it while it runs, so this is not fatal.
		if err := admin.Serve(runCtx, cfg.Server.DataDir, admin.NewHandler(a.Engine, log), log); err != nil {
			log.Error("admin socket unavailable: management commands cannot reach this server while it runs", "err", err)
		}
	})

	from := cfgPath
	if from == "" {
		from = "built-in defaults (no bridge.toml)"
	}
	dbPath := filepath.Join(cfg.Server.DataDir, app.DBName)
	fmt.Fprintf(stdout, "chatbridge %s ready in %s (config: %s, data: %s)\n", version, time.Since(start).Round(time.Millisecond), from, dbPath)
	for _, l := range a.Banner {
		fmt.Fprintf(stdout, "  %s\n", strings.ReplaceAll(l, "{base}", base))
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
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
		_ = srv.Close()
	}
	stopRun()
	wg.Wait()
	log.Info("stopped")
	return runErr
}

// healthz reports the store and each component: 200 when all are healthy,
// else 503. The reasons (which may name internal URLs) are shown only to
// local requests that did not come through a proxy; others see which check
// failed, not why.
func healthz(a *app.App) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		details := isLocal(r)
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
				if details {
					c.Error = h.Err.Error()
				} else {
					a.Log.Warn("health check failed", "check", h.Name, "err", h.Err)
				}
			}
			checks = append(checks, c)
		}
		status := http.StatusOK
		if !ok {
			status = http.StatusServiceUnavailable
		}
		admin.WriteJSON(w, status, map[string]any{"ok": ok, "checks": checks})
	}
}

// isLocal reports whether r comes from this machine directly (not through
// a reverse proxy, which would add forwarding headers).
func isLocal(r *http.Request) bool {
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
