package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newHealthCmd(g *globals) *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Ask a running server whether it is healthy (exit status 0 or 1)",
		Long: `Ask the running server of this configuration for its /healthz: on the
operations listener (server.admin_listen) when there is one, with the reason
of every failed check, else on the public listener (ok or not only).
Prints the answer; exit status 0 when healthy, 1 when not or unreachable.
The container image uses it as its HEALTHCHECK.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				cfg, path, err := g.loadConfig()
				if err != nil {
					return configError(path, err)
				}
				addr := cfg.Server.AdminListen
				if addr == "" {
					addr = cfg.Server.Listen
				}
				url = "http://" + dialable(addr) + "/healthz"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "unhealthy: %v\n", err)
				return exitError{code: exitFailure}
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			fmt.Fprint(cmd.OutOrStdout(), escapeText(string(body)))
			if resp.StatusCode != http.StatusOK {
				return exitError{code: exitFailure}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "the /healthz URL to ask (default: from the configuration)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

// dialable turns a listen address into one to connect to: every interface
// (":9191", "0.0.0.0:9191", "[::]:9191") becomes this machine.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch strings.Trim(host, "[]") {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
