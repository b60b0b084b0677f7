package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// TestTicketsAndLeadsCLI reads tickets and leads from a store without a
// running server (the in-process admin path).
func TestTicketsAndLeadsCLI(t *testing.T) {
	dir := t.TempDir()
	st := fixture.StoreAt(t, filepath.Join(dir, "chatbridge.db"), boltstore.Options{NoSync: true})
	eng := fixture.Engine(t, fixture.Options{Store: st, NoRun: true})
	ctx := context.Background()
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	for _, title := range []string{"Broken table leg", "Refund for chairs", "Big order of tables", "Delivery late"} {
		if _, err := eng.CreateTicket(ctx, bridge.Ticket{Title: title, CustomerName: "Ann", Operator: op}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.CreateLead(ctx, bridge.Lead{Title: "Restaurant chain", ContactName: "Bo", ReferredBy: op}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, errOut, code := runCLI(t, "tickets", "search", "tables", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("search: %d %s", code, errOut)
	}
	var res bridge.TicketQuery
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || res.Tickets[0].Number != 3 {
		t.Fatalf("search tables = %+v", res)
	}
	out, _, _ = runCLI(t, "tickets", "search", "#2", "--data-dir", dir)
	if !strings.Contains(out, "#2") || !strings.Contains(out, "Refund for chairs") || strings.Contains(out, "#1 ") {
		t.Fatalf("search #2:\n%s", out)
	}
	out, _, _ = runCLI(t, "tickets", "list", "--data-dir", dir)
	if strings.Index(out, "#4") > strings.Index(out, "#1") {
		t.Fatalf("list is not newest first:\n%s", out)
	}
	out, _, code = runCLI(t, "tickets", "show", "9", "--data-dir", dir)
	if code == 0 {
		t.Fatalf("show of a missing ticket succeeded:\n%s", out)
	}
	out, _, code = runCLI(t, "leads", "show", "1", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "Restaurant chain") || !strings.Contains(out, "Referred by: Alice") {
		t.Fatalf("leads show:\n%s", out)
	}
	_, errOut, code = runCLI(t, "canned", "add", "Not Valid", "text", "--data-dir", dir)
	if code == 0 || !strings.Contains(errOut, "invalid") {
		t.Fatalf("an invalid shortcut: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "conversations", "list", "--data-dir", filepath.Join(dir, "nowhere"))
	if code == 0 || !strings.Contains(errOut, "no chatbridge data") {
		t.Fatalf("a missing data dir: %d %q", code, errOut)
	}
}
