package fakeslack

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// maxUpload caps what the fake's upload URL reads.
const maxUpload = 64 << 20

// newFile registers a file; s.mu must be held.
func (s *Server) newFile(name, user string, length int) *file {
	s.fileSeq++
	f := &file{ID: fmt.Sprintf("F%06d", s.fileSeq), Name: name, Title: name, User: user, Length: length, Created: time.Now().Unix()}
	s.files[f.ID] = f
	s.fileOrder = append(s.fileOrder, f.ID)
	return f
}

// getUploadURL answers files.getUploadURLExternal: an upload URL on the
// fake's own server and the file's id; s.mu is held.
func (s *Server) getUploadURL(w http.ResponseWriter, v url.Values) {
	name := v.Get("filename")
	length, err := strconv.Atoi(v.Get("length"))
	if name == "" || err != nil || length <= 0 {
		s.fail(w, "invalid_arguments")
		return
	}
	f := s.newFile(name, BotUserID, length)
	s.reply(w, map[string]any{"upload_url": s.srv.URL + "/upload/" + f.ID, "file_id": f.ID})
}

// upload receives a file's bytes at its upload URL, raw or as a multipart
// form (the "file" field), and answers "OK - <length>" as Slack does.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	var data []byte
	var err error
	body := http.MaxBytesReader(w, r.Body, maxUpload)
	if mt, params, perr := mime.ParseMediaType(r.Header.Get("Content-Type")); perr == nil && strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, perr := mr.NextPart()
			if perr != nil {
				err = fmt.Errorf("no file field: %w", perr)
				break
			}
			if p.FormName() == "file" {
				data, err = io.ReadAll(p)
				break
			}
		}
	} else {
		data, err = io.ReadAll(body)
	}
	if err != nil {
		http.Error(w, "upload failed: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[r.PathValue("id")]
	if f == nil || f.Completed {
		http.Error(w, "upload url not found", http.StatusNotFound)
		return
	}
	if len(data) != f.Length {
		http.Error(w, fmt.Sprintf("length %d does not match the %d bytes announced", len(data), f.Length), http.StatusBadRequest)
		return
	}
	f.Data, f.Uploaded = data, true
	f.Mimetype = http.DetectContentType(data)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintf(w, "OK - %d", len(data))
}

// completeUpload answers files.completeUploadExternal: the files are
// completed and, with a channel, shared in one message (in the thread
// thread_ts, with initial_comment as its text); s.mu is held.
func (s *Server) completeUpload(w http.ResponseWriter, v url.Values) {
	var list []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(v.Get("files")), &list); err != nil || len(list) == 0 {
		s.fail(w, "invalid_arguments")
		return
	}
	channel, thread := v.Get("channel_id"), v.Get("thread_ts")
	if channel == "" && v.Get("channels") != "" {
		channel = strings.Split(v.Get("channels"), ",")[0]
	}
	if channel != "" && !s.knownChannel(channel) {
		s.fail(w, "channel_not_found")
		return
	}
	if thread != "" {
		parent := s.find(channel, thread)
		if parent == nil {
			s.fail(w, "thread_not_found")
			return
		}
		if parent.ThreadTS != "" && parent.ThreadTS != parent.TS {
			s.fail(w, "invalid_thread_ts") // a reply's ts, not its parent's
			return
		}
	}
	comment := url.Values{"text": {v.Get("initial_comment")}}
	if v.Get("initial_comment") == "" {
		comment.Set("blocks", v.Get("blocks"))
	}
	if ce := checkContent(comment, false); ce != nil {
		s.failContent(w, ce)
		return
	}
	var ids []string
	out := []map[string]any{}
	for _, it := range list {
		f := s.files[it.ID]
		if f == nil || !f.Uploaded || f.Deleted {
			s.fail(w, "file_not_found")
			return
		}
		ids = append(ids, f.ID)
	}
	var m *message
	if channel != "" {
		m = &message{Channel: channel, TS: s.nextTS(), ThreadTS: thread, User: BotUserID, Bot: true, Subtype: "file_share",
			Text: v.Get("initial_comment"), Files: ids}
		if c := v.Get("blocks"); c != "" && v.Get("initial_comment") == "" {
			m.Blocks = json.RawMessage(c)
		}
		s.msgs = append(s.msgs, m)
	}
	for _, it := range list {
		f := s.files[it.ID]
		if it.Title != "" {
			f.Title = it.Title
		}
		f.Completed = true
		if m != nil {
			f.Shares = append(f.Shares, Share{Channel: m.Channel, TS: m.TS, ThreadTS: m.ThreadTS})
		}
		out = append(out, map[string]any{"id": f.ID, "title": f.Title})
	}
	if m != nil && s.echo && m.Channel == s.Channel {
		s.queueEvent(s.messageJSON(m, false), "")
	}
	s.reply(w, map[string]any{"files": out})
}

// fileInfo answers files.info; s.mu is held.
func (s *Server) fileInfo(w http.ResponseWriter, v url.Values) {
	f := s.files[v.Get("file")]
	switch {
	case f == nil || !f.Completed:
		s.fail(w, "file_not_found")
		return
	case f.Deleted:
		s.fail(w, "file_deleted")
		return
	}
	s.reply(w, map[string]any{"file": s.fileJSON(f), "comments": []any{},
		"paging": map[string]any{"count": 100, "total": 0, "page": 1, "pages": 0}})
}

// deleteFile answers files.delete; the messages sharing the file keep
// their text and show a tombstone instead of the file. s.mu is held.
func (s *Server) deleteFile(w http.ResponseWriter, v url.Values) {
	f := s.files[v.Get("file")]
	switch {
	case f == nil || !f.Completed:
		s.fail(w, "file_not_found")
		return
	case f.Deleted:
		s.fail(w, "file_deleted")
		return
	case f.User != BotUserID:
		s.fail(w, "cant_delete_file")
		return
	}
	f.Deleted, f.Data = true, nil
	s.queueEvent(map[string]any{"type": "file_deleted", "file_id": f.ID, "event_ts": s.nextTS()}, "")
	s.reply(w, map[string]any{})
}

// privateURL is the url_private of f.
func (s *Server) privateURL(f *file) string {
	return s.srv.URL + "/files-pri/" + TeamID + "-" + f.ID + "/" + url.PathEscape(f.Name)
}

// fileJSON renders f as Slack's file object; s.mu must be held.
func (s *Server) fileJSON(f *file) map[string]any {
	if f.Deleted {
		return map[string]any{"id": f.ID, "mode": "tombstone"}
	}
	ext := strings.TrimPrefix(path.Ext(f.Name), ".")
	public, private := map[string]any{}, map[string]any{}
	var channels, groups, ims []string
	for _, sh := range f.Shares {
		entry := map[string]any{"reply_users": []string{}, "reply_users_count": 0, "reply_count": 0,
			"ts": sh.TS, "channel_name": "support", "team_id": TeamID, "share_user_id": f.User}
		if sh.ThreadTS != "" {
			entry["thread_ts"] = sh.ThreadTS
		}
		target, list := public, &channels
		switch channelType(sh.Channel) {
		case "group":
			target, list = private, &groups
		case "im":
			target, list = private, &ims
		}
		prev, _ := target[sh.Channel].([]map[string]any)
		target[sh.Channel] = append(prev, entry)
		*list = append(*list, sh.Channel)
	}
	shares := map[string]any{}
	if len(public) > 0 {
		shares["public"] = public
	}
	if len(private) > 0 {
		shares["private"] = private
	}
	priv := s.privateURL(f)
	return map[string]any{
		"id": f.ID, "created": f.Created, "timestamp": f.Created, "name": f.Name, "title": f.Title,
		"mimetype": f.Mimetype, "filetype": ext, "pretty_type": strings.ToUpper(ext), "user": f.User, "user_team": TeamID,
		"editable": false, "size": len(f.Data), "mode": "hosted", "is_external": false, "external_type": "",
		"is_public": len(public) > 0, "public_url_shared": false, "display_as_bot": false, "username": "",
		"url_private": priv, "url_private_download": strings.TrimSuffix(priv, "/"+url.PathEscape(f.Name)) + "/download/" + url.PathEscape(f.Name),
		"permalink": "https://test.slack.com/files/" + f.User + "/" + f.ID + "/" + url.PathEscape(f.Name),
		"channels":  nonNil(channels), "groups": nonNil(groups), "ims": nonNil(ims),
		"shares": shares, "has_rich_preview": false, "file_access": "visible",
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// download serves url_private and url_private_download: the bytes with the
// bot token (and files:read) as a Bearer header; otherwise, as Slack does,
// a redirect to the workspace's sign-in page.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["url_private"]++
	if fail, ok := s.takeFailure("url_private", r.URL.Query()); ok && fail.Status != 0 {
		if fail.RetryAfter != "" {
			w.Header().Set("Retry-After", fail.RetryAfter)
		}
		w.WriteHeader(fail.Status)
		return
	}
	id := strings.TrimPrefix(r.PathValue("teamfile"), TeamID+"-")
	f := s.files[id]
	authorized := r.Header.Get("Authorization") == "Bearer "+BotToken && s.hasScope("files:read")
	if !authorized {
		http.Redirect(w, r, "/signin?redir="+url.QueryEscape(r.URL.Path), http.StatusFound)
		return
	}
	if f == nil || !f.Completed || f.Deleted || f.Name != r.PathValue("name") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.Mimetype)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.Data)))
	_, _ = w.Write(f.Data)
}

// signin is the page Slack sends unauthenticated downloads to.
func (s *Server) signin(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>Sign in | Slack</title></head><body>Sign in to Test</body></html>")
}
