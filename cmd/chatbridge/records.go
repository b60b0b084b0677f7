package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/bridge"
)

func newTicketsCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "tickets", Short: "List, show and search help-desk tickets"})
	var asJSON bool
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List tickets, newest first", Args: noArgs,
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
		Use: "show <number>", Short: "Show a ticket with its transcript", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t bridge.Ticket
			if err := adminGet(cmd, g, "/v1/tickets/"+url.PathEscape(strings.TrimPrefix(args[0], "#")), &t); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if showJSON {
				return printJSON(out, t)
			}
			e := escapeLine
			fmt.Fprintf(out, "Ticket #%d: %s\nCustomer: %s %s\nOperator: %s\nCreated: %s\nSource: %s\nConversation: %s\n",
				t.Number, e(t.Title), e(t.CustomerName), angle(t.CustomerEmail), e(t.Operator.Name), t.CreatedAt.Local().Format("2006-01-02 15:04"), e(t.Source), e(t.ConversationID))
			for sink, link := range t.Links {
				fmt.Fprintf(out, "In %s: %s\n", e(sink), e(link))
			}
			fmt.Fprintf(out, "\n%s\n", escapeText(t.Description))
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")

	var searchJSON bool
	var searchLimit int
	search := &cobra.Command{
		Use: "search <keywords|#number>", Short: "Search tickets by number or keywords (title, transcript, customer)", Args: minArgs(1),
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
	return "<" + escapeLine(email) + ">"
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
	cmd := group(&cobra.Command{Use: "leads", Short: "List and show sales leads"})
	var asJSON bool
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List leads, newest first", Args: noArgs,
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
		Use: "show <number>", Short: "Show a lead with its notes", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var l bridge.Lead
			if err := adminGet(cmd, g, "/v1/leads/"+url.PathEscape(strings.TrimPrefix(args[0], "#")), &l); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if showJSON {
				return printJSON(out, l)
			}
			e := escapeLine
			fmt.Fprintf(out, "Lead #%d: %s\nContact: %s %s\nReferred by: %s\nCreated: %s\nSource: %s\n",
				l.Number, e(l.Title), e(l.ContactName), angle(l.ContactEmail), e(l.ReferredBy.Name), l.CreatedAt.Local().Format("2006-01-02 15:04"), e(l.Source))
			if l.Country != "" || l.Language != "" {
				fmt.Fprintf(out, "Country: %s  Language: %s\n", e(l.Country), e(l.Language))
			}
			for sink, link := range l.Links {
				fmt.Fprintf(out, "In %s: %s\n", e(sink), e(link))
			}
			fmt.Fprintf(out, "\n%s\n", escapeText(l.Notes))
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	cmd.AddCommand(list, show)
	return cmd
}
