package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/admin"
	"github.com/spf13/cobra"
)

func newCannedCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "canned", Short: "Manage canned responses (:shortcut texts)"})
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [query]",
		Short: "List canned responses (matching query: exact, prefix, substring, most used)",
		Args:  maxArgs(1),
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
				fmt.Fprintf(tw, ":%s\t%s\t%d\t%s\n", escapeLine(c.Shortcut), escapeLine(owner), c.Uses, oneLine(c.Text, 60))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var desc, owner string
	add := &cobra.Command{
		Use:   "add <shortcut> <text…>",
		Short: "Add or replace a canned response",
		Args:  minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := bridge.CannedResponse{Shortcut: strings.TrimPrefix(args[0], ":"), Text: strings.Join(args[1:], " "), Description: desc, Owner: owner}
			var res admin.CannedResult
			err := withAdminWrite(cmd.Context(), g, func(cl *admin.Client) error {
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
		Args:  exactArgs(1),
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
		Args:  exactArgs(1),
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
			err = withAdminWrite(cmd.Context(), g, func(cl *admin.Client) error {
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
		Args:  noArgs,
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
