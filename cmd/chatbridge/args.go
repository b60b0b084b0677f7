package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of every command (also in `chatbridge help` and the README).
const (
	exitOK = 0
	// exitFailure: the command ran and failed (an error, problems found by
	// `config check`, an unhealthy server for `health`).
	exitFailure = 1
	// exitUsage: the command line is wrong (an unknown command or flag, a
	// missing or extra argument); nothing was done.
	exitUsage = 2
)

// usageError is a wrong command line; it exits with exitUsage.
type usageError struct {
	cmd *cobra.Command
	msg string
}

func (e usageError) Error() string {
	return fmt.Sprintf("%s\nusage: %s\n(see `%s --help`)", e.msg, e.cmd.UseLine(), e.cmd.CommandPath())
}

// argNames is the argument part of a command's Use ("<number>").
func argNames(cmd *cobra.Command) string {
	_, names, _ := strings.Cut(cmd.Use, " ")
	return names
}

// exactArgs, minArgs, maxArgs and noArgs check positional arguments like
// cobra's, but say which argument is missing and show the usage line.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return usageError{cmd, fmt.Sprintf("%s needs %s", cmd.CommandPath(), argNames(cmd))}
		case len(args) > n:
			return usageError{cmd, fmt.Sprintf("%s takes %s, and got %d arguments: %s", cmd.CommandPath(), argNames(cmd), len(args), quoteArgs(args))}
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{cmd, fmt.Sprintf("%s needs %s", cmd.CommandPath(), argNames(cmd))}
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError{cmd, fmt.Sprintf("%s takes at most %d argument(s), and got %d: %s", cmd.CommandPath(), n, len(args), quoteArgs(args))}
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{cmd, fmt.Sprintf("%s takes no arguments, and got %s", cmd.CommandPath(), quoteArgs(args))}
	}
	return nil
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", escapeLine(a))
	}
	return strings.Join(q, " ")
}

// group makes cmd (a command that only holds subcommands) answer an
// unknown subcommand with a usage error, and no arguments with its help.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %s", escapeLine(args[0]), cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usageError{cmd, msg}
	}
	return cmd
}
