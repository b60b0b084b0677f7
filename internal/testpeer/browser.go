package testpeer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/internal/fixture"
	"github.com/chromedp/chromedp"
)

// browserNames are the executables Browser looks for, in order.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome"}

// startTimeout bounds how long Browser waits for Chromium to start.
const startTimeout = 60 * time.Second

// Browser starts a headless Chromium for the test and returns a chromedp
// context for its first tab. The browser runs with a fresh profile in a
// t.TempDir() directory and stops when the test ends (t.Cleanup).
//
// When no Chromium is installed the test is skipped with a message saying
// so, except when the environment variable CI is "true": then the test fails,
// because real-browser tests must never be skipped silently in CI.
func Browser(t testing.TB) context.Context {
	t.Helper()
	path := findBrowser()
	if path == "" {
		msg := "no Chromium found on PATH (looked for chromium, chromium-browser, google-chrome); install Debian's chromium to run this real-browser test"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		defer scancel()
		_ = chromedp.Cancel(sctx) // closes the browser gracefully
		cancel()
		cancelAlloc()
		emptyDir(dir)
	})

	// The first Do starts the browser; it must run on a context without a
	// deadline (the browser lives as long as that context), so the start is
	// bounded by a watchdog instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium %s: %v", path, err)
		}
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("start chromium %s: no answer within %s", path, startTimeout)
	}
	return ctx
}

// NewTab opens another tab in the browser of ctx (a context returned by
// Browser) and returns its context. The tab closes when the test ends.
func NewTab(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return tab
}

// WaitFor polls cond every 20 ms until it reports true, and fails the test
// with msg when timeout passes first. cond runs on the test's goroutine.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	fixture.WaitEvery(t, timeout, 20*time.Millisecond, msg, cond)
}

func findBrowser() string {
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// emptyDir removes the contents of dir, retrying for a few seconds: Chrome's
// helper processes (crashpad) can still write there just after the browser
// exits, which would make t.TempDir's own cleanup fail.
func emptyDir(dir string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := removeContents(dir)
		if err == nil || time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond) // retry pause, not synchronisation
	}
}

func removeContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var first error
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil && first == nil {
			first = err
		}
	}
	return first
}
