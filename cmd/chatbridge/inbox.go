package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/chatbridge/chatbridge/adapters/inbox"
	"github.com/chatbridge/chatbridge/internal/config"
)

func newInboxCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "inbox", Short: "Built-in operator inbox helpers"})
	cmd.AddCommand(&cobra.Command{
		Use:   "hash-password",
		Short: "Print the bcrypt hash of a password for [[inbox.operators]]",
		Long: `Print the bcrypt hash of a password for an [[inbox.operators]] block.

On a terminal it asks for the password twice without showing it; otherwise it
reads one line from standard input. ` + "`chatbridge inbox add-operator`" + ` does the
same and writes the block into the configuration file for you.`,
		Example: `  chatbridge inbox hash-password
  chatbridge inbox hash-password < password.txt`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			h, err := inbox.HashPassword(pw)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), h)
			return err
		},
	}, newAddOperatorCmd(g))
	return cmd
}

// minPasswordLen is the shortest operator password accepted.
const minPasswordLen = 8

// readPassword reads a new password: on a terminal, typed twice without
// echo (prompts on standard error); otherwise one line of standard input.
func readPassword(cmd *cobra.Command) (string, error) {
	var pw string
	if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		prompt := func(p string) (string, error) {
			fmt.Fprint(cmd.ErrOrStderr(), p)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			return string(b), err
		}
		var err error
		if pw, err = prompt("Password (not shown): "); err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if len(pw) >= minPasswordLen {
			again, err := prompt("The same again: ")
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			if again != pw {
				return "", errors.New("the two passwords differ: nothing was changed")
			}
		}
	} else {
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("no password on standard input")
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if len(pw) < minPasswordLen {
		return "", fmt.Errorf("the password must be at least %d characters", minPasswordLen)
	}
	return pw, nil
}

func newAddOperatorCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "add-operator <login>",
		Short: "Add an inbox operator to the configuration file (asks for a password)",
		Long: `Add an operator who may log in to the built-in inbox.

It asks for the password (twice, not shown, on a terminal; else one line of
standard input), and appends an [[inbox.operators]] block with its bcrypt
hash to the configuration file: --config, else $CHATBRIDGE_CONFIG, else
./bridge.toml, which is created (mode 0600) when there is none. A running
server reads the file at start: restart it.

It refuses, and changes nothing, when the file cannot be edited safely: a
file that does not parse or validate, that is not a regular file (a symbolic
link, say), that already has this login, whose operators are written in a
way a block cannot extend, or that changed while it was being edited. It then
prints the block to add by hand.`,
		Example: `  chatbridge inbox add-operator alice --name "Alice Martin"
  printf '%s\n' "$PASSWORD" | chatbridge inbox add-operator bob --config /etc/chatbridge/bridge.toml`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			login := args[0]
			if err := checkOperatorText("login", login, false); err != nil {
				return usageError{cmd, err.Error()}
			}
			if err := checkOperatorText("--name", name, true); err != nil {
				return usageError{cmd, err.Error()}
			}
			path := g.findConfig()
			created := path == ""
			if created {
				path = defaultConfigFile
			}
			// Check the file before asking for a password.
			old, err := readEditable(path, created)
			if err != nil {
				return err
			}
			if _, err := appendOperator(old, config.Operator{Login: login, Name: name, PasswordHash: "$2a$04$" + strings.Repeat("x", 53)}); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			hash, err := inbox.HashPassword(pw)
			if err != nil {
				return err
			}
			op := config.Operator{Login: login, Name: name, PasswordHash: hash}
			block, err := appendOperator(old, op)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if err := writeAppend(path, old, block, created); err != nil {
				return fmt.Errorf("%w\nadd this block to %s by hand:\n%s", err, path, operatorBlock(op))
			}
			out := cmd.OutOrStdout()
			if created {
				fmt.Fprintf(out, "Created %s with the operator %s. `chatbridge serve` in this directory reads it.\n", path, login)
			} else {
				fmt.Fprintf(out, "Added the operator %s to %s. Restart `chatbridge serve` for them to log in.\n", login, path)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name shown to visitors (default: the login)")
	return cmd
}

// checkOperatorText refuses what bridge.toml would refuse (a login with
// white space) and what cannot be written plainly into it.
func checkOperatorText(what, s string, spaces bool) error {
	switch {
	case !spaces && s == "":
		return fmt.Errorf("the %s must not be empty", what)
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > 64:
		return fmt.Errorf("the %s must be at most 64 characters of UTF-8", what)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unsafeRune(r) || (!spaces && unicode.IsSpace(r)) }):
		return fmt.Errorf("the %s %q must not contain control characters%s", what, escapeLine(s), map[bool]string{false: " or white space", true: ""}[spaces])
	}
	return nil
}

// readEditable reads the configuration file to extend ("" when it is to be
// created), refusing one that is not a regular file or not a valid
// configuration.
func readEditable(path string, create bool) ([]byte, error) {
	fi, err := os.Lstat(path)
	switch {
	case create && errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file (%s): edit the file it stands for, or add the operator by hand", path, fi.Mode().Type())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if _, err := config.Parse(data, os.Getenv); err != nil {
		return nil, fmt.Errorf("%s has problems; fix them first (`chatbridge config check`):\n%w", path, err)
	}
	return data, nil
}

// operatorBlock is op as an [[inbox.operators]] block. The texts were
// checked (no control characters), so Go's quoting is valid TOML.
func operatorBlock(op config.Operator) string {
	var b strings.Builder
	b.WriteString("[[inbox.operators]]\n")
	fmt.Fprintf(&b, "login = %s\n", strconv.Quote(op.Login))
	if op.Name != "" {
		fmt.Fprintf(&b, "name = %s\n", strconv.Quote(op.Name))
	}
	fmt.Fprintf(&b, "password_hash = %s\n", strconv.Quote(op.PasswordHash))
	return b.String()
}

// appendOperator returns the text to append to old for op, after checking
// that old plus that text parses to old's configuration plus exactly op.
func appendOperator(old []byte, op config.Operator) (string, error) {
	before, err := config.Parse(old, os.Getenv)
	if err != nil {
		return "", err
	}
	for _, o := range before.Inbox.Operators {
		if strings.EqualFold(o.Login, op.Login) {
			return "", fmt.Errorf("already has an operator %q: remove its [[inbox.operators]] block first to replace it", o.Login)
		}
	}
	add := "\n" + operatorBlock(op)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		add = "\n" + add
	}
	if len(old) == 0 {
		add = "# chatbridge configuration: see bridge.example.toml for every key.\n" + add
	}
	after, err := config.Parse(append(append([]byte{}, old...), add...), os.Getenv)
	if err != nil || len(after.Inbox.Operators) != len(before.Inbox.Operators)+1 ||
		after.Inbox.Operators[len(after.Inbox.Operators)-1] != op {
		return "", fmt.Errorf("cannot add an [[inbox.operators]] block safely (is inbox.operators written as an array?); add this block by hand:\n%s", operatorBlock(op))
	}
	return add, nil
}

// writeAppend appends add to the file at path, which must still hold
// exactly old (or, with create, not exist: it is made with mode 0600). The
// file is written in place, so its owner, mode and links stay.
func writeAppend(path string, old []byte, add string, create bool) error {
	flags := os.O_WRONLY | os.O_APPEND
	if create {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(len(old)) {
		f.Close()
		return fmt.Errorf("%s changed while it was being edited: nothing was written", path)
	}
	if _, err := io.WriteString(f, add); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
