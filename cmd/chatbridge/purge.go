package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/internal/admin"
	"github.com/chatbridge/chatbridge/internal/config"
)

const purgeLong = `Delete closed conversations last updated before a date, for good: their
messages, their threads' and rooms' links, their dead letters, the files no
other conversation uses, and their visitors once nothing else of theirs is
left (tokens, page views). Tickets and leads are kept. Open conversations
are never deleted.

--closed-before takes a date (2026-01-01, midnight UTC), a time
(2026-01-01T08:00:00+01:00) or an age ("90d": closed and untouched for 90
days). With --dry-run, nothing is deleted: the figures say what would be.

This is what [retention] closed_conversations does every [retention] every
on a running server. The command works whether or not the server runs.`

func newPurgeCmd(g *globals) *cobra.Command {
	var (
		before string
		dry    bool
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete closed conversations older than a date, with their files and visitors",
		Long:  purgeLong,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if before == "" {
				return usageError{cmd, "purge needs --closed-before DATE (2026-01-01, an RFC 3339 time, or an age like 90d)"}
			}
			cutoff, err := parseCutoff(before, time.Now())
			if err != nil {
				return usageError{cmd, err.Error()}
			}
			if limit < 0 {
				return usageError{cmd, "--limit may not be negative"}
			}
			return withAdmin(cmd.Context(), g, func(c *admin.Client) error {
				var rep admin.PurgeReport
				req := admin.PurgeRequest{ClosedBefore: cutoff, DryRun: dry, Limit: limit}
				if err := c.Do(cmd.Context(), "POST", "/v1/purge", req, &rep); err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), rep)
				}
				printPurge(cmd.OutOrStdout(), rep)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&before, "closed-before", "", "delete conversations closed and last updated before this date, time or age (2026-01-01, 90d)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "count what would be deleted, delete nothing")
	cmd.Flags().IntVar(&limit, "limit", 0, "delete at most this many conversations (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// parseCutoff reads --closed-before: a date (midnight UTC), an RFC 3339
// time, or an age before now ("90d", "36h").
func parseCutoff(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var p config.Period
	if err := p.UnmarshalText([]byte(s)); err == nil && p.Duration() > 0 {
		return now.Add(-p.Duration()), nil
	}
	return time.Time{}, fmt.Errorf("--closed-before %q is not a date (2026-01-01), an RFC 3339 time or an age (90d)", s)
}

func printPurge(w io.Writer, rep admin.PurgeReport) {
	verb, files := "Deleted", fmt.Sprintf("%d files", rep.FilesDeleted)
	if rep.DryRun {
		verb, files = "Would delete", fmt.Sprintf("%d files", len(rep.Blobs))
	}
	parts := []string{
		fmt.Sprintf("%d conversations (%d messages)", rep.Conversations, rep.Messages),
		fmt.Sprintf("%d visitors", rep.Visitors),
		fmt.Sprintf("%d outbox entries and dead letters", rep.Outbox),
		files,
	}
	fmt.Fprintf(w, "%s %s: closed and last updated before %s.\n", verb, strings.Join(parts, ", "), rep.ClosedBefore.Format(time.RFC3339))
	if rep.More {
		fmt.Fprintln(w, "More conversations are old enough: run the command again (or without --limit).")
	}
	if rep.DryRun {
		fmt.Fprintln(w, "Dry run: nothing was deleted.")
	}
}
