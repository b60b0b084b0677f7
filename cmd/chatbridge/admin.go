package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/internal/admin"
	"github.com/chatbridge/chatbridge/internal/app"
	"github.com/spf13/cobra"
)

// Helpers of the management commands: they reach the data directory
// through the admin API (internal/admin), over the running server's socket
// or in this process when no server runs.

// withAdmin runs fn with an admin client for the configured data
// directory, for a command that only reads.
func withAdmin(ctx context.Context, g *globals, fn func(*admin.Client) error) error {
	return dialAdmin(ctx, g, admin.ReadOnly, fn)
}

// withAdminWrite is withAdmin for a command that writes: without a store
// yet (before the first serve), it creates one.
func withAdminWrite(ctx context.Context, g *globals, fn func(*admin.Client) error) error {
	return dialAdmin(ctx, g, admin.Write, fn)
}

func dialAdmin(ctx context.Context, g *globals, access admin.Access, fn func(*admin.Client) error) error {
	dir, err := g.resolveDataDir()
	if err != nil {
		return err
	}
	c, err := admin.Dial(ctx, dir, g.openOffline, access)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// printJSON prints v as indented JSON: an empty list as [] (never null),
// and the characters a terminal acts on, or that reorder text, as \u
// escapes (see escapeJSON).
func printJSON(w io.Writer, v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = []any{}
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(escapeJSON(data), '\n'))
	return err
}

// adminGet fetches path from the admin API into out.
func adminGet(cmd *cobra.Command, g *globals, path string, out any) error {
	return withAdmin(cmd.Context(), g, func(c *admin.Client) error {
		return c.Do(cmd.Context(), "GET", path, nil, out)
	})
}

// oneLine shows s on one line, at most n characters, with what a terminal
// would act on escaped (escapeLine).
func oneLine(s string, n int) string {
	s = escapeLine(strings.Join(strings.Fields(s), " "))
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// openOffline opens the data directory in this process, for when no server
// runs: the same wiring as serve (internal/app), with nothing running.
func (g *globals) openOffline(context.Context) (http.Handler, func() error, error) {
	cfg, path, err := g.loadConfig()
	if err != nil {
		return nil, nil, configError(path, err)
	}
	a, err := app.Open(cfg, nil, app.Options{LockTimeout: 500 * time.Millisecond})
	if errors.Is(err, app.ErrLocked) {
		return nil, nil, fmt.Errorf("%w: %w", admin.ErrLocked, err)
	}
	if err != nil {
		return nil, nil, configError(path, err)
	}
	return admin.NewHandler(a.Engine, nil).WithPurger(a.Retention), a.Close, nil
}
