package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/adapters/inbox"
)

func newInboxCmd(*globals) *cobra.Command {
	cmd := &cobra.Command{Use: "inbox", Short: "Built-in operator inbox helpers"}
	cmd.AddCommand(&cobra.Command{
		Use:   "hash-password",
		Short: "Read a password from standard input and print its bcrypt hash for [[inbox.operators]]",
		Example: `  printf '%s' 'correct horse battery staple' | chatbridge inbox hash-password
  chatbridge inbox hash-password < password.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && line == "" {
				return errors.New("no password on standard input")
			}
			pw := strings.TrimRight(line, "\r\n")
			if len(pw) < 8 {
				return errors.New("the password must be at least 8 characters")
			}
			h, err := inbox.HashPassword(pw)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), h)
			return err
		},
	})
	return cmd
}
