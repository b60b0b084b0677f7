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
	cmd := group(&cobra.Command{Use: "outbox", Short: "Deliveries waiting for Slack, Matrix, e-mail and the sinks, and dead letters"})
	var (
		asJSON bool
		dead   bool
		dest   string
		limit  int
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List pending deliveries (or, with --dead, dead letters), oldest first, with their attempts and last error",
		Long: `List pending deliveries, oldest first, with their attempts and last error.

With --dead, list the dead letters instead: deliveries a destination refused
for good (or that kept failing for outbox.give_up_after). They no longer hold
back their conversations; retry them with "chatbridge outbox retry ID" once
the cause is fixed, or delete them with "chatbridge outbox drop ID".`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if dest != "" {
				q.Set("destination", dest)
			}
			if dead {
				q.Set("dead", "1")
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
				if dead {
					fmt.Fprintln(out, "No dead letters.")
				} else {
					fmt.Fprintln(out, "Nothing waiting: every delivery went through.")
				}
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDESTINATION\tKIND\tCONVERSATION\tAGE\tATTEMPTS\tLAST ERROR")
			for _, r := range rows {
				age := (time.Duration(r.AgeSeconds) * time.Second).String()
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, escapeLine(r.Destination), escapeLine(string(r.Kind)), escapeLine(r.ConversationID), age, r.Attempts, oneLine(r.LastError, 60))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().BoolVar(&dead, "dead", false, "list dead letters instead of pending deliveries")
	list.Flags().StringVar(&dest, "destination", "", "only this destination (slack, matrix, email, webhook, odoo)")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many per destination")
	cmd.AddCommand(list, deadLetterCmd(g, "retry", "Put dead letters back into their outbox, due at once"),
		deadLetterCmd(g, "drop", "Delete dead letters for good"))
	return cmd
}

// deadLetterCmd is `outbox retry ID…` or `outbox drop ID…`.
func deadLetterCmd(g *globals, verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " <id>...",
		Short: short,
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd.Context(), g, func(c *admin.Client) error {
				for _, id := range args {
					if _, err := strconv.ParseUint(id, 10, 64); err != nil {
						return fmt.Errorf("%q is not an outbox entry id", id)
					}
					var en admin.OutboxRow
					if err := c.Do(cmd.Context(), "POST", "/v1/outbox/"+id+"/"+verb, nil, &en); err != nil {
						return err
					}
					done := "back in the outbox of"
					if verb == "drop" {
						done = "deleted; it will not reach"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "Dead letter %s (%s) %s %s.\n", id, en.Kind, done, en.Destination)
				}
				return nil
			})
		},
	}
}
