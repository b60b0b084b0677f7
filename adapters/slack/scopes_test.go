package slack

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// methodScopes maps the Slack Web API methods of slack-go's *slack.Client
// to the bot token scopes they need (https://api.slack.com/methods). A
// method that needs none maps to nil. Add a method here when the adapter
// starts calling it.
var methodScopes = map[string][]string{
	"AuthTestContext":                  nil,                                    // auth.test
	"GetBotInfoContext":                {"users:read"},                         // bots.info
	"GetUserInfoContext":               {"users:read"},                         // users.info
	"GetUsersInfoContext":              {"users:read"},                         // users.info
	"GetConversationHistoryContext":    {"channels:history", "groups:history"}, // the channel may be public or private
	"GetConversationRepliesContext":    {"channels:history", "groups:history"}, //
	"GetConversationInfoContext":       {"channels:read", "groups:read"},       // conversations.info
	"OpenConversationContext":          {"im:write"},                           // conversations.open
	"PostMessageContext":               {"chat:write"},                         // chat.postMessage
	"PostEphemeralContext":             {"chat:write"},                         // chat.postEphemeral
	"UpdateMessageContext":             {"chat:write"},                         // chat.update
	"DeleteMessageContext":             {"chat:write"},                         // chat.delete
	"AddReactionContext":               {"reactions:write"},                    // reactions.add
	"RemoveReactionContext":            {"reactions:write"},                    // reactions.remove
	"GetUploadURLExternalContext":      {"files:write"},                        // files.getUploadURLExternal
	"CompleteUploadExternalContext":    {"files:write"},                        // files.completeUploadExternal
	"UploadFileV2Context":              {"files:write"},                        //
	"UploadFileContext":                {"files:write"},                        //
	"GetFileInfoContext":               {"files:read"},                         // files.info
	"GetFileContext":                   {"files:read"},                         // a file's url_private, with the bot token
	"ShareFilePublicURLContext":        {"files:write"},                        //
	"DeleteFileContext":                {"files:write"},                        //
	"SendMessageContext":               {"chat:write"},                         // what PostMessage and PostEphemeral call
	"GetPermalinkContext":              nil,                                    // chat.getPermalink
	"JoinConversationContext":          {"channels:join"},                      //
	"GetConversationsForUserContext":   {"channels:read", "groups:read"},       //
	"SetUserPresenceContext":           {"users:write"},                        //
	"GetReactionsContext":              {"reactions:read"},                     //
	"ListReactionsContext":             {"reactions:read"},                     //
	"GetConversationsContext":          {"channels:read", "groups:read"},       //
	"InviteUsersToConversationContext": {"channels:manage", "groups:write"},    //
	"GetUserByEmailContext":            {"users:read", "users:read.email"},     //
	"GetUserIdentityContext":           {"identity.basic"},                     //
	"GetUserProfileContext":            {"users.profile:read"},                 //
	"GetTeamInfoContext":               {"team:read"},                          //
	"GetEmojiContext":                  {"emoji:read"},                         //
	"GetConversationMembersContext":    {"channels:read", "groups:read"},       //
	"MarkConversationContext":          {"channels:write", "groups:write"},     //
	"SetTopicOfConversationContext":    {"channels:manage", "groups:write"},    //
	"GetUserPresenceContext":           {"users:read"},                         //
	"PostMessage":                      {"chat:write"},                         // variants without Context
	"PostEphemeral":                    {"chat:write"},                         //
	"AuthTest":                         nil,                                    //
	"GetUserInfo":                      {"users:read"},                         //
	"GetBotInfo":                       {"users:read"},                         //
	"GetConversationReplies":           {"channels:history", "groups:history"}, //
	"GetConversationHistory":           {"channels:history", "groups:history"}, //
	"OpenConversation":                 {"im:write"},                           //
	"AddReaction":                      {"reactions:write"},                    //
	"UploadFileV2":                     {"files:write"},                        //
	"GetFileInfo":                      {"files:read"},                         //
	"GetFile":                          {"files:read"},                         //
	"UpdateMessage":                    {"chat:write"},                         //
	"DeleteMessage":                    {"chat:write"},                         //
	"GetConversationInfo":              {"channels:read", "groups:read"},       //
	"Debug":                            nil,                                    // not API calls
	"Debugf":                           nil,                                    //
	"Debugln":                          nil,                                    //
}

// Other uses that need a scope, found in the source as they are written.
var usageScopes = map[string][]string{
	"MsgOptionUsername":  {"chat:write.customize"}, // posting as the visitor's name
	"MsgOptionIconEmoji": {"chat:write.customize"},
	"MsgOptionIconURL":   {"chat:write.customize"},
	"URLPrivate":         {"files:read"}, // downloading a file shared in Slack
}

// eventScopes are the scopes the subscribed events need.
var eventScopes = map[string][]string{
	"message.channels": {"channels:history"},
	"message.groups":   {"groups:history"},
	"message.im":       {"im:history"},
	"message.mpim":     {"mpim:history"},
	"app_mention":      {"app_mentions:read"},
}

// The manifest asks for exactly the scopes the adapter's code needs: those
// of the Web API methods it calls, of the options it uses, and of the
// events it subscribes to. A method added to the code without its scope,
// or a scope left in the manifest that nothing uses, fails here.
func TestManifestScopesMatchTheCode(t *testing.T) {
	client := reflect.TypeFor[*slack.Client]()
	isClientMethod := func(name string) bool { _, ok := client.MethodByName(name); return ok }

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	need := map[string][]string{} // scope → why
	calls := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(gotoken.NewFileSet(), f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		called := map[*ast.SelectorExpr]bool{}
		ast.Inspect(file, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
					called[sel] = true
				}
			}
			return true
		})
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			name := sel.Sel.Name
			if scopes, ok := usageScopes[name]; ok {
				for _, s := range scopes {
					need[s] = append(need[s], f+": "+name)
				}
			}
			if !called[sel] || !isClientMethod(name) {
				return true
			}
			if _, isPkg := sel.X.(*ast.Ident); isPkg && sel.X.(*ast.Ident).Name == "slack" {
				return true // a package function (slack.New, slack.MsgOption…), not a method
			}
			scopes, known := methodScopes[name]
			if !known {
				t.Errorf("%s calls (*slack.Client).%s: add it and its scopes to methodScopes", f, name)
				return true
			}
			calls++
			for _, s := range scopes {
				need[s] = append(need[s], f+": "+name)
			}
			return true
		})
	}
	if calls < 5 {
		t.Fatalf("found only %d Web API calls: the scan is broken", calls)
	}
	for _, ev := range BotEvents {
		scopes, ok := eventScopes[ev]
		if !ok {
			t.Errorf("event %s: add it and its scopes to eventScopes", ev)
		}
		for _, s := range scopes {
			need[s] = append(need[s], "event "+ev)
		}
	}
	for s, why := range need {
		if !slices.Contains(Scopes, s) {
			t.Errorf("the manifest lacks %s, which the code needs (%s)", s, strings.Join(slices.Compact(why), ", "))
		}
	}
	for _, s := range Scopes {
		if _, ok := need[s]; !ok {
			t.Errorf("the manifest asks for %s, which nothing in the code uses", s)
		}
	}
}
