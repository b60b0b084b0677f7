package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"golang.org/x/crypto/bcrypt"
)

var readyLine = regexp.MustCompile(`ready in (\S+)`)

// BenchmarkServeReady measures how long `chatbridge serve` takes to be ready
// (listening, banner printed) on a store of 1,000,000 messages in 10,000
// conversations and, with CHATBRIDGE_READY_10M=1 (it builds a 2 GB file
// first), of 10,000,000 in 100,000: the server's own figure (from the start
// of serve to listening) as serve-ms. An inbox operator is configured, as
// on a real server.
//
//	go test -run '^$' -bench ServeReady -benchtime 5x ./cmd/chatbridge/
//	CHATBRIDGE_READY_10M=1 CHATBRIDGE_READY_CACHE=$HOME/.cache/chatbridge go test -run '^$' -bench ServeReady/10M -benchtime 5x -timeout 60m ./cmd/chatbridge/
func BenchmarkServeReady(b *testing.B) {
	b.Run("1M", func(b *testing.B) { serveReady(b, 10_000) })
	b.Run("10M", func(b *testing.B) {
		if os.Getenv("CHATBRIDGE_READY_10M") == "" {
			b.Skip("set CHATBRIDGE_READY_10M=1 to build and measure a store of 10,000,000 messages")
		}
		serveReady(b, 100_000)
	})
}

// serveReady measures serve's start on convs conversations of 100 messages.
func serveReady(b *testing.B, convs int) {
	const perConv = 100
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	// CHATBRIDGE_READY_CACHE=dir keeps the built store there for the next
	// run (building 10,000,000 messages takes many minutes); each run
	// starts serve on a copy-free hard link of it.
	built := false
	if cache := os.Getenv("CHATBRIDGE_READY_CACHE"); cache != "" {
		cached := filepath.Join(cache, fmt.Sprintf("ready-%d.db", convs))
		if _, err := os.Stat(cached + ".done"); err == nil {
			if err := os.MkdirAll(data, 0o700); err != nil {
				b.Fatal(err)
			}
			if err := os.Link(cached, filepath.Join(data, "chatbridge.db")); err != nil {
				b.Fatal(err)
			}
			built = true
		} else {
			b.Cleanup(func() {
				if b.Failed() {
					return
				}
				_ = os.Remove(cached)
				if os.Link(filepath.Join(data, "chatbridge.db"), cached) == nil {
					_ = os.WriteFile(cached+".done", nil, 0o644)
				}
			})
		}
	}
	st, err := boltstore.Open(filepath.Join(data, "chatbridge.db"), boltstore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	ctx := context.Background()
	for c := 0; c < convs && !built; c += 100 {
		err := st.Update(ctx, func(tx bridge.Tx) error {
			for i := c; i < c+100; i++ {
				v := bridge.Visitor{ID: fmt.Sprintf("v_%06d", i), Name: fmt.Sprint("Visitor ", i), CreatedAt: now}
				if err := tx.PutVisitor(v); err != nil {
					return err
				}
				conv := bridge.Conversation{ID: fmt.Sprintf("c_%06d", i), VisitorID: v.ID, Status: bridge.StatusClosed, CreatedAt: now, UpdatedAt: now, LastSeq: perConv}
				if err := tx.PutConversation(conv); err != nil {
					return err
				}
				for s := uint64(1); s <= perConv; s++ {
					m := bridge.Message{ConversationID: conv.ID, Seq: s, From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic,
						Author: v.Name, Text: "Hello, I have a question about my order number " + strconv.Itoa(i), At: now}
					if err := tx.PutMessage(m); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(data, "chatbridge.db"))
	hash, err := bcrypt.GenerateFromPassword([]byte("operator password"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	cfgPath := writeConfig(b, dir, fmt.Sprintf("[[inbox.operators]]\nlogin = \"alice\"\npassword_hash = %q\n", hash))
	b.ResetTimer()
	var own time.Duration
	for range b.N {
		cmd := exec.Command(binPath, "serve", "--config", cfgPath)
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				d, _ := time.ParseDuration(m[1])
				own += d
				break
			}
		}
		b.StopTimer()
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(float64(own.Microseconds())/1000/float64(b.N), "serve-ms")
	b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
}
