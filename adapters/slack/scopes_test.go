package slack

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/internal/fakeslack"
)

// webAPIMethods maps the slack-go client methods the adapter may call to
// the Web API method each calls ("" for none: the upload URL).
var webAPIMethods = map[string]string{
	"AuthTestContext":               "auth.test",
	"GetBotInfoContext":             "bots.info",
	"GetUserInfoContext":            "users.info",
	"PostMessageContext":            "chat.postMessage",
	"PostEphemeralContext":          "chat.postEphemeral",
	"UpdateMessageContext":          "chat.update",
	"DeleteMessageContext":          "chat.delete",
	"GetConversationRepliesContext": "conversations.replies",
	"GetConversationHistoryContext": "conversations.history",
	"OpenConversationContext":       "conversations.open",
	"AddReactionContext":            "reactions.add",
	"GetUploadURLExternalContext":   "files.getUploadURLExternal",
	"UploadToURL":                   "",
	"CompleteUploadExternalContext": "files.completeUploadExternal",
	"GetFileInfoContext":            "files.info",
	"DeleteFileContext":             "files.delete",
}

// optionScopes are scopes that options of a call need.
var optionScopes = map[string]string{
	"MsgOptionUsername":  "chat:write.customize",
	"MsgOptionIconEmoji": "chat:write.customize",
	"MsgOptionIconURL":   "chat:write.customize",
}

// eventScopes are the scopes the subscribed events need.
var eventScopes = map[string]string{
	"message.channels": "channels:history",
	"message.groups":   "groups:history",
}

// The manifest asks for exactly the scopes of the Web API methods the
// package calls (found in its source), of the options it uses, of the
// file downloads it makes, and of the events it subscribes to: a scope
// nothing uses is not asked for, and a call does not meet missing_scope.
func TestScopesMatchCalls(t *testing.T) {
	fset := gotoken.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	need := map[string]string{} // scope → why
	downloads := false
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Name.Name == "download" && n.Recv != nil {
					downloads = true
				}
			case *ast.SelectorExpr:
				name := n.Sel.Name
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "slack" {
					if s, ok := optionScopes[name]; ok {
						need[s] = name
					}
					return true
				}
				if !callsOnAPI(n.X) {
					return true
				}
				method, ok := webAPIMethods[name]
				if !ok {
					t.Errorf("%s calls slack-go's %s: add it to webAPIMethods with its Web API method", fset.Position(n.Pos()), name)
					return true
				}
				if method == "" {
					return true
				}
				for _, s := range fakeslack.MethodScopes[method] {
					need[s] = method
				}
			}
			return true
		})
	}
	if downloads {
		need["files:read"] = "url_private downloads"
	}
	for _, ev := range BotEvents {
		s, ok := eventScopes[ev]
		if !ok {
			t.Errorf("event %s: add its scope to eventScopes", ev)
		}
		need[s] = ev
	}
	var want []string
	for s := range need {
		want = append(want, s)
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(Scopes))
	if !slices.Equal(got, want) {
		t.Errorf("Scopes = %v\nthe code needs %v (%v)", got, want, need)
	}
	out, err := Manifest(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(slices.Values(m.OAuth.Scopes.Bot)), want) {
		t.Errorf("manifest scopes %v, want %v", m.OAuth.Scopes.Bot, want)
	}
}

// callsOnAPI reports whether x is the adapter's slack-go client: a.api,
// c.api, or api.
func callsOnAPI(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.SelectorExpr:
		return x.Sel.Name == "api"
	case *ast.Ident:
		return x.Name == "api"
	}
	return false
}
