package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/admin"
)

func init() {
	extraCommands = append(extraCommands, newCannedCmd, newTicketsCmd, newLeadsCmd)
}

// adminGet fetches path from the admin API into out.
func adminGet(cmd *cobra.Command, g *globals, path string, out any) error {
	return withAdmin(cmd.Context(), g, func(c *admin.Client) error {
		return c.Do(cmd.Context(), "GET", path, nil, out)
	})
}

func newCannedCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "canned", Short: "Manage canned responses (:shortcut texts)"}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [query]",
		Short: "List canned responses (matching query: exact, prefix, substring, most used)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if len(args) == 1 {
				q.Set("q", args[0])
			}
			var all []bridge.CannedResponse
			if err := adminGet(cmd, g, "/v1/canned?"+q.Encode(), &all); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, all)
			}
			if len(all) == 0 {
				fmt.Fprintln(out, "No canned responses.")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SHORTCUT\tOWNER\tUSES\tTEXT")
			for _, c := range all {
				owner := c.Owner
				if owner == "" {
					owner = "shared"
				}
				fmt.Fprintf(tw, ":%s\t%s\t%d\t%s\n", c.Shortcut, owner, c.Uses, oneLine(c.Text, 60))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var desc, owner string
	add := &cobra.Command{
		Use:   "add <shortcut> <text…>",
		Short: "Add or replace a canned response",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := bridge.CannedResponse{Shortcut: strings.TrimPrefix(args[0], ":"), Text: strings.Join(args[1:], " "), Description: desc, Owner: owner}
			var res admin.CannedResult
			err := withAdmin(cmd.Context(), g, func(cl *admin.Client) error {
				return cl.Do(cmd.Context(), "POST", "/v1/canned", c, &res)
			})
			if err != nil {
				return err
			}
			verb := "Added"
			if res.Replaced > 0 {
				verb = "Replaced"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s :%s\n", verb, c.Shortcut)
			return nil
		},
	}
	add.Flags().StringVar(&desc, "description", "", "what the response is for")
	add.Flags().StringVar(&owner, "owner", "", "personal to this operator (adapter:id, e.g. inbox:alice); default shared")

	var rmOwner string
	remove := &cobra.Command{
		Use:   "remove <shortcut>",
		Short: "Remove a canned response",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc := strings.TrimPrefix(args[0], ":")
			err := withAdmin(cmd.Context(), g, func(cl *admin.Client) error {
				return cl.Do(cmd.Context(), "DELETE", "/v1/canned/"+url.PathEscape(sc)+"?owner="+url.QueryEscape(rmOwner), nil, nil)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed :%s\n", sc)
			return nil
		},
	}
	remove.Flags().StringVar(&rmOwner, "owner", "", "owner of a personal response")

	var format string
	imp := &cobra.Command{
		Use:   "import <file.csv|file.toml|->",
		Short: "Import canned responses (all or nothing; existing shortcuts are replaced)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := formatOf(format, args[0])
			if err != nil {
				return err
			}
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				file, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer file.Close()
				r = file
			}
			var res admin.CannedResult
			err = withAdmin(cmd.Context(), g, func(cl *admin.Client) error {
				return cl.Do(cmd.Context(), "POST", "/v1/canned/import?format="+f, r, &res)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Imported %d canned responses (%d new, %d replaced)\n", res.Added+res.Replaced, res.Added, res.Replaced)
			return nil
		},
	}
	imp.Flags().StringVar(&format, "format", "", "csv or toml (default: from the file name)")

	var expFormat, output string
	exp := &cobra.Command{
		Use:   "export",
		Short: "Export canned responses as CSV or TOML",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := formatOf(expFormat, output)
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if output != "" && output != "-" {
				file, err := os.Create(output)
				if err != nil {
					return err
				}
				defer file.Close()
				w = file
			}
			return withAdmin(cmd.Context(), g, func(cl *admin.Client) error {
				return cl.Do(cmd.Context(), "GET", "/v1/canned/export?format="+f, nil, w)
			})
		},
	}
	exp.Flags().StringVar(&expFormat, "format", "", "csv or toml (default: from -o, else toml)")
	exp.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")

	cmd.AddCommand(list, add, remove, imp, exp)
	return cmd
}

// formatOf picks csv or toml from an explicit flag or a file name.
func formatOf(flag, name string) (string, error) {
	switch flag {
	case "csv", "toml":
		return flag, nil
	case "":
	default:
		return "", fmt.Errorf("--format must be csv or toml, not %q", flag)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return "csv", nil
	case ".toml", "":
		return "toml", nil
	}
	return "", fmt.Errorf("cannot tell the format of %s: pass --format csv or --format toml", name)
}

func newTicketsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tickets", Short: "List, show and search help-desk tickets"}
	var asJSON bool
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List tickets, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ts []bridge.Ticket
			if err := adminGet(cmd, g, "/v1/tickets?limit="+strconv.Itoa(limit), &ts); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ts)
			}
			printTickets(cmd.OutOrStdout(), ts, len(ts))
			return nil
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "at most this many (0: all)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var showJSON bool
	show := &cobra.Command{
		Use: "show <number>", Short: "Show a ticket with its transcript", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t bridge.Ticket
			if err := adminGet(cmd, g, "/v1/tickets/"+url.PathEscape(strings.TrimPrefix(args[0], "#")), &t); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if showJSON {
				return printJSON(out, t)
			}
			fmt.Fprintf(out, "Ticket #%d: %s\nCustomer: %s %s\nOperator: %s\nCreated: %s\nSource: %s\nConversation: %s\n",
				t.Number, t.Title, t.CustomerName, angle(t.CustomerEmail), t.Operator.Name, t.CreatedAt.Local().Format("2006-01-02 15:04"), t.Source, t.ConversationID)
			for sink, link := range t.Links {
				fmt.Fprintf(out, "In %s: %s\n", sink, link)
			}
			fmt.Fprintf(out, "\n%s\n", t.Description)
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")

	var searchJSON bool
	var searchLimit int
	search := &cobra.Command{
		Use: "search <keywords|#number>", Short: "Search tickets by number or keywords (title, transcript, customer)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res bridge.TicketQuery
			q := url.Values{"q": {strings.Join(args, " ")}, "limit": {strconv.Itoa(searchLimit)}}
			if err := adminGet(cmd, g, "/v1/tickets/search?"+q.Encode(), &res); err != nil {
				return err
			}
			if searchJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			printTickets(cmd.OutOrStdout(), res.Tickets, res.Total)
			return nil
		},
	}
	search.Flags().BoolVar(&searchJSON, "json", false, "print JSON")
	search.Flags().IntVar(&searchLimit, "limit", 20, "at most this many")
	cmd.AddCommand(list, show, search)
	return cmd
}

func angle(email string) string {
	if email == "" {
		return ""
	}
	return "<" + email + ">"
}

func printTickets(out io.Writer, ts []bridge.Ticket, total int) {
	if len(ts) == 0 {
		fmt.Fprintln(out, "No tickets.")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tCREATED\tCUSTOMER\tTITLE")
	for _, t := range ts {
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\n", t.Number, t.CreatedAt.Local().Format("2006-01-02 15:04"), oneLine(t.CustomerName, 24), oneLine(t.Title, 60))
	}
	tw.Flush()
	if total > len(ts) {
		fmt.Fprintf(out, "and %d more\n", total-len(ts))
	}
}

func newLeadsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "leads", Short: "List and show sales leads"}
	var asJSON bool
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List leads, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ls []bridge.Lead
			if err := adminGet(cmd, g, "/v1/leads?limit="+strconv.Itoa(limit), &ls); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, ls)
			}
			if len(ls) == 0 {
				fmt.Fprintln(out, "No leads.")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NUMBER\tCREATED\tCONTACT\tTITLE")
			for _, l := range ls {
				fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\n", l.Number, l.CreatedAt.Local().Format("2006-01-02 15:04"), oneLine(l.ContactName, 24), oneLine(l.Title, 60))
			}
			return tw.Flush()
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "at most this many (0: all)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var showJSON bool
	show := &cobra.Command{
		Use: "show <number>", Short: "Show a lead with its notes", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var l bridge.Lead
			if err := adminGet(cmd, g, "/v1/leads/"+url.PathEscape(strings.TrimPrefix(args[0], "#")), &l); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if showJSON {
				return printJSON(out, l)
			}
			fmt.Fprintf(out, "Lead #%d: %s\nContact: %s %s\nReferred by: %s\nCreated: %s\nSource: %s\n",
				l.Number, l.Title, l.ContactName, angle(l.ContactEmail), l.ReferredBy.Name, l.CreatedAt.Local().Format("2006-01-02 15:04"), l.Source)
			if l.Country != "" || l.Language != "" {
				fmt.Fprintf(out, "Country: %s  Language: %s\n", l.Country, l.Language)
			}
			for sink, link := range l.Links {
				fmt.Fprintf(out, "In %s: %s\n", sink, link)
			}
			fmt.Fprintf(out, "\n%s\n", l.Notes)
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	cmd.AddCommand(list, show)
	return cmd
}
