package testpeer

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
)

func TestDendriteRegister(t *testing.T) {
	hs := Dendrite(t)
	users := []struct{ localpart, password string }{
		{"bot", "bot-password-1"},
		{"alice", "alice-password-1"},
	}
	tokens := map[string]bool{}
	for _, u := range users {
		userID, token := hs.Register(t, u.localpart, u.password)
		if want := "@" + u.localpart + ":" + hs.ServerName; userID != want {
			t.Errorf("user id = %q, want %q", userID, want)
		}
		if token == "" || tokens[token] {
			t.Fatalf("token for %s is empty or reused: %q", u.localpart, token)
		}
		tokens[token] = true
		if got := whoami(t, hs, token); got != userID {
			t.Errorf("whoami with %s's token = %q, want %q", u.localpart, got, userID)
		}
	}
	// The shared secret is the only way in: open registration is off, and
	// a second registration of the same name fails.
	if _, _, err := hs.register(context.Background(), "alice", "alice-password-2"); err == nil {
		t.Error("registering alice twice succeeded")
	}
	var out map[string]any
	err := hs.call(context.Background(), http.MethodPost, "/_matrix/client/v3/register",
		map[string]any{"username": "mallory", "password": "mallory-password", "auth": map[string]string{"type": "m.login.dummy"}}, &out)
	if err == nil {
		t.Error("open registration is enabled")
	}
}

func whoami(t *testing.T, hs *Homeserver, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, hs.URL+"/_matrix/client/v3/account/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var who struct {
		UserID string `json:"user_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&who); err != nil {
		t.Fatalf("whoami: %s: %v", resp.Status, err)
	}
	return who.UserID
}
