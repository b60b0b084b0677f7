package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/internal/loadgen"
)

// TestKillDuringBenchAccept: SIGKILL of a server under `chatbridge bench
// accept` loses nothing it acknowledged. The server runs the configuration
// of `bench --print-config` (durable defaults: every answer after fsync),
// the bench runs as a process with 32 writers for 6 s and logs every
// acknowledged message (--acked). About 2 s into the measured window the
// server is killed and at once started again on the same data directory
// and the same address, so the bench (which does not stop on errors: it
// counts them and goes on until its duration ends) gets acknowledgements
// from before the kill and from after the restart. Then every line of the
// log is looked up through the visitor API with the visitor's own token:
// the message is in its conversation exactly once, with its text and the
// seq the server answered, and each visitor's messages are in the order the
// bench sent them (one writer per visitor, so the log's order is the
// client's). Messages the store kept whose answer was lost in the kill are
// allowed (the client saw an error and would retry with its client_id).
func TestKillDuringBenchAccept(t *testing.T) {
	dir := t.TempDir()
	// A fixed address, so that the restarted server is where the bench
	// sends its requests; outside the ephemeral range, so that none of the
	// bench's connection attempts while the server is down takes the port
	// as its own end.
	listen, opsAddr := fixedLoopbackAddr(t), freeLoopbackAddr(t)
	cfg, err := exec.Command(binPath, "bench", "--print-config", "--listen", listen, "--admin-listen", opsAddr,
		"--data-dir", filepath.Join(dir, "data"), "--operator", "bench:kill-test-password").Output()
	if err != nil {
		t.Fatalf("bench --print-config: %v", err)
	}
	cfgPath := filepath.Join(dir, "bench.toml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, cfgPath)

	const writers = 32
	acked := filepath.Join(dir, "acked.jsonl")
	bench := exec.Command(binPath, "bench", "accept", "--url", srv.base, "--concurrency", fmt.Sprint(writers),
		"--duration", "6s", "--warmup", "0s", "--timeout", "5s", "--acked", acked, "--metrics-url", "off", "--json")
	var stdout, stderr bytes.Buffer
	bench.Stdout, bench.Stderr = &stdout, &stderr
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	benchDone := make(chan error, 1)
	go func() { benchDone <- bench.Wait() }()
	t.Cleanup(func() {
		if bench.ProcessState == nil {
			_ = bench.Process.Kill()
			<-benchDone
		}
	})

	// The measured window has started once the log holds more than the
	// conversations' opening messages (it is flushed every 200 ms).
	waitFor(t, "the bench's first measured acknowledgements", func() bool { return len(readAckLines(t, acked)) > writers })
	measuring := time.Now()
	time.Sleep(2 * time.Second)
	killed := time.Now()
	srv.kill(t)
	srv = startServer(t, cfgPath)
	restarted := time.Now()
	t.Logf("server killed %s into the measured window, serving again %s later",
		killed.Sub(measuring).Round(time.Millisecond), restarted.Sub(killed).Round(time.Millisecond))

	select {
	case err := <-benchDone:
		if err != nil {
			t.Fatalf("bench: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the bench did not end; stderr:\n%s", stderr.String())
	}
	var sum loadgen.Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout.String())
	}
	p := sum.Paths[0]
	if p.ErrorCount == 0 {
		t.Errorf("the bench counted no errors: was the server killed under load? %+v", p)
	}
	t.Logf("bench: %d acknowledged in the window, errors %v", p.Count, p.Errors)

	acks := readAckLines(t, acked)
	var before, after int
	for _, a := range acks {
		switch {
		case a.At.Before(killed):
			before++
		case a.At.After(restarted):
			after++
		}
	}
	if before <= writers || after == 0 {
		t.Fatalf("%d acknowledgements before the kill (%d of them opening messages), %d after the restart: the kill was not during the load", before, writers, after)
	}
	if uint64(len(acks)) != writers+p.Count {
		t.Errorf("%d lines in the log, want %d opening messages and the %d the summary counts", len(acks), writers, p.Count)
	}

	// Each visitor's log in client order, and its messages as stored.
	byToken := map[string][]loadgen.Ack{}
	var tokens []string
	for _, a := range acks {
		if byToken[a.Token] == nil {
			tokens = append(tokens, a.Token)
		}
		byToken[a.Token] = append(byToken[a.Token], a)
	}
	if len(tokens) != writers {
		t.Errorf("%d visitors in the log, want %d", len(tokens), writers)
	}
	extra := 0
	for _, tok := range tokens {
		mine := byToken[tok]
		var view struct {
			ConversationID string `json:"conversation_id"`
			Messages       []struct {
				Seq  uint64 `json:"seq"`
				From string `json:"from"`
				Text string `json:"text"`
			} `json:"messages"`
		}
		v := &visitorClient{t: t, base: srv.base, token: tok}
		if code := v.do("GET", "/api/v1/messages?after=0", nil, &view); code != http.StatusOK {
			t.Fatalf("GET messages of visitor %s: %d", mine[0].VisitorID, code)
		}
		stored := map[string][]uint64{} // text → seqs of visitor messages with it
		for _, m := range view.Messages {
			if m.From == "visitor" {
				stored[m.Text] = append(stored[m.Text], m.Seq)
			}
		}
		var last uint64
		for _, a := range mine {
			switch seqs := stored[a.Text]; {
			case a.ConversationID != view.ConversationID:
				t.Errorf("%s (%q): acknowledged in conversation %s, the visitor's is %s", a.ClientID, a.Text, a.ConversationID, view.ConversationID)
			case len(seqs) == 0:
				t.Errorf("LOST: %s (%q), acknowledged with seq %d at %s, is not in conversation %s",
					a.ClientID, a.Text, a.Seq, a.At.Format("15:04:05.000"), a.ConversationID)
			case len(seqs) > 1:
				t.Errorf("%s (%q) is stored %d times, seqs %v", a.ClientID, a.Text, len(seqs), seqs)
			case seqs[0] != a.Seq:
				t.Errorf("%s (%q): acknowledged with seq %d, stored with %d", a.ClientID, a.Text, a.Seq, seqs[0])
			}
			if a.Seq <= last {
				t.Errorf("visitor %s: %s acknowledged with seq %d after seq %d: not in the order sent", a.VisitorID, a.ClientID, a.Seq, last)
			}
			last = a.Seq
		}
		extra += len(stored) - len(mine)
	}
	if !t.Failed() {
		t.Logf("%d acknowledged messages (%d before the kill, %d after the restart) found once each, in order; %d more stored whose answer the kill lost",
			len(acks), before, after, extra)
	}
	srv.stop(t)
}

// readAckLines reads the bench's --acked log; a missing file is empty, and
// a last line without its newline (being written) is left out.
func readAckLines(t *testing.T, path string) []loadgen.Ack {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	var acks []loadgen.Ack
	for line := range strings.Lines(string(b)) {
		if !strings.HasSuffix(line, "\n") {
			break
		}
		var a loadgen.Ack
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("%s: line %q: %v", path, line, err)
		}
		acks = append(acks, a)
	}
	return acks
}

// fixedLoopbackAddr returns a loopback address free a moment ago whose port
// is below the ephemeral range (where outgoing connections take their local
// ports), for a server that must get the same address again after a kill.
func fixedLoopbackAddr(t *testing.T) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low <= 10000 {
		return freeLoopbackAddr(t)
	}
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(10000+rand.IntN(low-10000)))
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
	return freeLoopbackAddr(t)
}
