package main

import (
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/internal/admin"
)

func newOutboxCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "outbox", Short: "Deliveries waiting for Slack, Matrix, e-mail and the sinks"})
	var (
		asJSON bool
		dest   string
		limit  int
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List pending deliveries, oldest first, with their attempts and last error",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if dest != "" {
				q.Set("destination", dest)
			}
			var rows []admin.OutboxRow
			if err := adminGet(cmd, g, "/v1/outbox?"+q.Encode(), &rows); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(out, "Nothing waiting: every delivery went through.")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDESTINATION\tKIND\tCONVERSATION\tWAITING\tATTEMPTS\tLAST ERROR")
			for _, r := range rows {
				age := (time.Duration(r.AgeSeconds) * time.Second).String()
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, escapeLine(r.Destination), escapeLine(string(r.Kind)), escapeLine(r.ConversationID), age, r.Attempts, oneLine(r.LastError, 60))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().StringVar(&dest, "destination", "", "only this destination (slack, matrix, email, webhook, odoo)")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many per destination")
	cmd.AddCommand(list)
	return cmd
}
