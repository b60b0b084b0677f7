package main

import (
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/admin"
)

func newConversationsCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "conversations",
		Aliases: []string{"conv"},
		Short:   "List, show and export conversations",
	})
	cmd.AddCommand(newConvListCmd(g), newConvShowCmd(g), newConvExportCmd(g))
	return cmd
}

func newConvListCmd(g *globals) *cobra.Command {
	var (
		asJSON bool
		status string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List conversations, newest activity first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			var rows []admin.ConversationSummary
			err := withAdmin(cmd.Context(), g, func(c *admin.Client) error {
				return c.Do(cmd.Context(), "GET", "/v1/conversations?"+q.Encode(), nil, &rows)
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(out, "No conversations.")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tVISITOR\tMESSAGES\tUPDATED\tPREVIEW")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Conversation.ID, r.Conversation.Status,
					oneLine(r.Visitor.DisplayName(), 24), r.Conversation.LastSeq,
					r.Conversation.UpdatedAt.Local().Format("2006-01-02 15:04"), oneLine(r.Conversation.Preview, 50))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&status, "status", "", "only open or closed conversations")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
	return cmd
}

func fetchConversation(cmd *cobra.Command, g *globals, id string) (admin.ConversationDetail, error) {
	var d admin.ConversationDetail
	err := withAdmin(cmd.Context(), g, func(c *admin.Client) error {
		return c.Do(cmd.Context(), "GET", "/v1/conversations/"+url.PathEscape(id), nil, &d)
	})
	return d, err
}

func newConvShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show <conversation-id>",
		Short: "Show a conversation with its notes, the visitor and recent pages",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := fetchConversation(cmd, g, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, d)
			}
			// Everything the visitor chose goes through escapeLine/escapeText.
			c, v := d.Conversation, d.Visitor
			fmt.Fprintf(out, "Conversation %s (%s), started %s\n", c.ID, c.Status, c.CreatedAt.Local().Format(time.RFC1123))
			fmt.Fprintf(out, "Visitor: %s", escapeLine(v.DisplayName()))
			if v.Email != "" {
				fmt.Fprintf(out, " <%s>", escapeLine(v.Email))
			}
			fmt.Fprintln(out)
			if v.CurrentURL != "" {
				fmt.Fprintf(out, "Current page: %s\n", escapeLine(v.CurrentURL))
			}
			fmt.Fprintln(out)
			for _, m := range d.Messages {
				fmt.Fprintln(out, formatLine(m))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// formatLine renders a message for the terminal, marking operator-only
// ones. Lines after the first of a multi-line message are indented, so
// that no text can pass for another message.
func formatLine(m bridge.Message) string {
	tag := ""
	switch m.Visibility {
	case bridge.VisibilityNote:
		tag = " [note]"
	case bridge.VisibilityWhisper:
		tag = " [only " + escapeLine(m.Recipient) + "]"
	}
	return fmt.Sprintf("%s  %s%s: %s", m.At.Local().Format("15:04:05"), escapeLine(m.Author), tag, indentLines(escapeText(m.Text), "          "))
}

func newConvExportCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "export <conversation-id>",
		Short: "Export a conversation's transcript (text or json)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := fetchConversation(cmd, g, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				return printJSON(out, d)
			case "text", "":
				// The transcript's own format, with each message made safe
				// for a terminal and its continuation lines indented.
				safe := make([]bridge.Message, len(d.Messages))
				for i, m := range d.Messages {
					m.Author, m.Text = escapeLine(m.Author), indentLines(escapeText(m.Text), "  ")
					safe[i] = m
				}
				fmt.Fprintln(out, bridge.FormatTranscript(safe))
				return nil
			default:
				return fmt.Errorf("--format must be text or json, not %q", format)
			}
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text (the public transcript) or json (everything)")
	return cmd
}
