package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: what a program writes to slave (its
// terminal) is read from master, and what is written to master is typed.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal on this machine: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// On a terminal, inbox hash-password asks twice without echo, and prints
// a hash of what was typed.
func TestPasswordPromptHidden(t *testing.T) {
	master, slave := openPTY(t)
	cmd := exec.Command(binPath, "inbox", "hash-password")
	var out bytes.Buffer
	cmd.Stdin, cmd.Stderr, cmd.Stdout = slave, slave, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var screen syncBuffer
	go func() { _, _ = io.Copy(&screen, master) }()
	const pw = "sekret-horse-battery"
	for _, prompt := range []string{"Password (not shown): ", "The same again: "} {
		waitFor(t, "the prompt "+prompt, func() bool { return strings.Contains(screen.String(), prompt) })
		// Type only once echo is off (term.ReadPassword turns it off after
		// the prompt is shown).
		waitFor(t, "echo off", func() bool {
			tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
			return err == nil && tio.Lflag&unix.ECHO == 0
		})
		if _, err := io.WriteString(master, pw+"\n"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the line read", func() bool {
			tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
			return err == nil && (tio.Lflag&unix.ECHO != 0 || strings.Contains(screen.String(), "again"))
		})
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hash-password: %v\n%s", err, screen.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hash-password did not finish")
	}
	if strings.Contains(screen.String(), pw) {
		t.Errorf("the password was echoed:\n%q", screen.String())
	}
	if err := bcrypt.CompareHashAndPassword(bytes.TrimSpace(out.Bytes()), []byte(pw)); err != nil {
		t.Errorf("output %q is not a hash of the typed password: %v", out.String(), err)
	}
}
