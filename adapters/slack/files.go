package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/files"
)

// This file carries files both ways.
//
// To Slack: a message's file is read from the blob store and uploaded into
// the thread with Slack's external upload (files.getUploadURLExternal, the
// bytes to the upload URL, files.completeUploadExternal with the thread's
// root as thread_ts), with the message's text as the upload's comment.
//
// From Slack: the files of an operator's thread message are downloaded
// from url_private with the bot token, checked and stored by files.Ingest,
// and handed to the engine with the message's text as their caption.

// deliverFile posts a message with a file: the file with the caption as
// its comment, or, when the caption needs several posts, the caption's
// parts and then the file under a short comment.
//
// Once: the upload's file id is recorded (postRecord.File) before it is
// completed, and a retry that finds one asks files.info whether the file is
// shared in the thread, completing nothing again if it is. So a file shows
// at most once in the thread, unless Slack completed an upload whose answer
// was lost and files.info does not list the share yet when the retry asks
// (the retry comes after the outbox's backoff, a second or more later);
// and at least once, as the outbox retries until it is.
func (a *Adapter) deliverFile(ctx context.Context, d bridge.Delivery, channel, root string, rec postRecord) error {
	m := d.Message
	f := *m.File
	r := render(*m, d.Visitor, false)
	comment := r.texts[0]
	rec.Comment = true
	if len(r.texts) > 1 {
		refs, err := a.postParts(ctx, d.Entry, channel, root, r.texts)
		if err != nil {
			return err
		}
		rec.Posts, rec.Comment = refs, false
		comment = "📎 *" + Escape(author(*m, d.Visitor)) + "* sent a file."
	}
	if rec.File != "" {
		ts, shared, err := a.fileShare(ctx, rec.File, channel, root)
		if err != nil {
			return err
		}
		if shared {
			a.log.Info("slack file found in the thread, not uploaded again", "entry", d.Entry.EventID(), "file", rec.File)
			rec.FileTS, rec.Done = channel+":"+ts, true
			return a.saveRecord(ctx, m.ConversationID, m.Seq, rec)
		}
	}
	// Without the file, the thread still gets the text and says why.
	instead := func(why string) error {
		texts := append(slices.Clone(r.texts), "📎 The file «"+Escape(cleanName(f.Name, 100))+"» ("+files.Size(f.Size)+") is not shown here: "+why)
		refs, err := a.postParts(ctx, d.Entry, channel, root, texts)
		if err != nil {
			return err
		}
		return a.saveRecord(ctx, m.ConversationID, m.Seq, postRecord{Posts: refs, Done: true})
	}
	if a.cfg.Blobs == nil {
		return instead("this chatbridge keeps no files (no blob store).")
	}
	body, size, err := a.cfg.Blobs.Get(ctx, f.Key)
	if errors.Is(err, bridge.ErrNotFound) {
		a.log.Error("slack file missing from the blob store", "conversation", m.ConversationID, "seq", m.Seq, "key", f.Key)
		return instead("chatbridge no longer has it.")
	}
	if err != nil {
		return fmt.Errorf("read file: %w", err)
	}
	defer body.Close()
	up, err := a.api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: f.Name, FileSize: int(size)})
	if slackErrCode(err) == "missing_scope" {
		a.noteFileError(err)
		return instead("the Slack app may not upload files (files:write): update it from `chatbridge slack manifest` and reinstall it.")
	}
	if err != nil {
		return fmt.Errorf("upload file: %w", err)
	}
	rec.File = up.FileID
	if err := a.saveRecord(ctx, m.ConversationID, m.Seq, rec); err != nil {
		return err
	}
	if err := a.api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: up.UploadURL, Reader: body, Filename: f.Name}); err != nil {
		return fmt.Errorf("upload file: %w", err)
	}
	_, err = a.api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
		Files: []slack.FileSummary{{ID: up.FileID, Title: f.Name}}, Channel: channel, ThreadTimestamp: root, InitialComment: comment,
	})
	if err != nil {
		return fmt.Errorf("complete file upload: %w", err)
	}
	a.noteFileError(nil)
	rec.Done = true
	return a.saveRecord(ctx, m.ConversationID, m.Seq, rec)
}

// fileShare returns the ts of the message sharing file id in the thread
// root of channel, if there is one (files.info).
func (a *Adapter) fileShare(ctx context.Context, id, channel, root string) (string, bool, error) {
	info, _, _, err := a.api.GetFileInfoContext(ctx, id, 0, 0)
	switch slackErrCode(err) {
	case "":
	case "file_not_found", "file_deleted":
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look for an earlier upload: %w", err)
	}
	for _, sh := range append(slices.Clone(info.Shares.Public[channel]), info.Shares.Private[channel]...) {
		if sh.ThreadTs == root {
			return sh.Ts, true, nil
		}
	}
	return "", false, nil
}

// noteFileError records (or, with nil, clears) why files cannot be
// uploaded; Health reports it, posting goes on.
func (a *Adapter) noteFileError(err error) {
	a.mu.Lock()
	was := a.fileErr
	a.fileErr = err
	a.mu.Unlock()
	if err != nil && was == nil {
		a.log.Error("slack files cannot be uploaded: the app lacks files:write", "err", err)
	}
}

// slackFile is the part of a message's file object the bridge reads.
type slackFile struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Title              string `json:"title"`
	Mode               string `json:"mode"`
	Size               int64  `json:"size"`
	IsExternal         bool   `json:"is_external"`
	URLPrivate         string `json:"url_private"`
	URLPrivateDownload string `json:"url_private_download"`
}

// downloadTimeout bounds one file's download.
const downloadTimeout = 2 * time.Minute

// errUnreadable: Slack does not let the bridge read a file.
var errUnreadable = errors.New("chatbridge cannot read it")

// receiveFiles downloads and stores the files an operator shared. Files
// that cannot be relayed are refused with a reason each, for the
// operator: what Slack or files.Ingest refuse, and what still fails after
// a few tries (the network, the blob store), so that the message's text is
// never lost with a file. It fails only when ctx ends.
func (a *Adapter) receiveFiles(ctx context.Context, list []slackFile) (accepted []bridge.Attachment, refused []string, err error) {
	for _, f := range list {
		name := f.Name
		if name == "" {
			name = f.Title
		}
		shown := "«" + cleanName(name, 100) + "»"
		switch {
		case f.Mode == "tombstone" || f.Mode == "hidden_by_limit":
			refused = append(refused, shown+" is no longer available in Slack")
			continue
		case f.IsExternal || f.Mode == "external":
			refused = append(refused, shown+" is a link to a file outside Slack: send the link instead")
			continue
		case a.cfg.Blobs == nil:
			refused = append(refused, shown+": this chatbridge keeps no files (no blob store)")
			continue
		case f.Size > a.cfg.MaxFileBytes:
			refused = append(refused, fmt.Sprintf("%s is too large (%s; the limit is %s)", shown, files.Size(f.Size), files.Size(a.cfg.MaxFileBytes)))
			continue
		}
		att, err := a.fetch(ctx, f, name)
		switch {
		case err == nil:
			accepted = append(accepted, att)
		case errors.Is(err, bridge.ErrInvalid) || errors.Is(err, errUnreadable):
			refused = append(refused, shown+": "+strings.TrimPrefix(err.Error(), bridge.ErrInvalid.Error()+": "))
		case ctx.Err() != nil:
			return nil, nil, fmt.Errorf("receive file %s: %w", f.ID, err)
		default:
			a.log.Warn("slack file not received", "file", f.ID, "err", err)
			refused = append(refused, shown+" could not be fetched from Slack ("+err.Error()+"): send it again")
		}
	}
	return accepted, refused, nil
}

// fetchTries is how many times a download that failed for a passing
// reason is tried.
const fetchTries = 3

// fetch downloads and stores a file, trying again after failures that
// may pass (the network, the blob store, Slack's 5xx or 429).
func (a *Adapter) fetch(ctx context.Context, f slackFile, name string) (bridge.Attachment, error) {
	wait := 250 * time.Millisecond
	for try := 1; ; try++ {
		att, err := a.download(ctx, f, name)
		if err == nil || errors.Is(err, bridge.ErrInvalid) || errors.Is(err, errUnreadable) || try == fetchTries {
			return att, err
		}
		if !sleep(ctx, wait) {
			return att, err
		}
		wait *= 4
	}
}

// download fetches a file's url_private with the bot token as a Bearer
// header and stores it with files.Ingest. The token is sent only to Slack
// (https on slack.com or slack-gov.com) or to the configured API host.
// Errors wrapping bridge.ErrInvalid or errUnreadable are refusals; others
// are worth a retry.
func (a *Adapter) download(ctx context.Context, f slackFile, name string) (bridge.Attachment, error) {
	raw := f.URLPrivateDownload
	if raw == "" {
		raw = f.URLPrivate
	}
	if !a.mayReceiveToken(raw) {
		return bridge.Attachment{}, fmt.Errorf("%w: its address is not Slack's", errUnreadable)
	}
	ctx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return bridge.Attachment{}, fmt.Errorf("%w: %v", errUnreadable, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.BotToken)
	client := &http.Client{
		Transport: a.cfg.HTTPClient.Transport,
		// Slack answers a token that may not read the file with a redirect
		// to its sign-in page.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return bridge.Attachment{}, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return bridge.Attachment{}, fmt.Errorf("%w: Slack sent chatbridge to its sign-in page (does the app have files:read?)", errUnreadable)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusForbidden:
		return bridge.Attachment{}, fmt.Errorf("%w: Slack answered %s", errUnreadable, resp.Status)
	default:
		return bridge.Attachment{}, fmt.Errorf("download: %s", resp.Status)
	}
	body := &readErr{r: resp.Body}
	att, err := files.Ingest(ctx, a.cfg.Blobs, body, name, files.Options{MaxBytes: a.cfg.MaxFileBytes})
	if body.err != nil {
		return bridge.Attachment{}, fmt.Errorf("download: %w", body.err) // the network, not the file
	}
	return att, err
}

// readErr remembers the first read error other than EOF.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && r.err == nil {
		r.err = err
	}
	return n, err
}

// mayReceiveToken reports whether the bot token may be sent to raw: an
// https URL on Slack's domains, or the configured Web API's host (a test's
// fake Slack).
func (a *Adapter) mayReceiveToken(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "https" {
		for _, d := range []string{"slack.com", "slack-gov.com"} {
			if host == d || strings.HasSuffix(host, "."+d) {
				return true
			}
		}
	}
	base, err := url.Parse(a.cfg.APIURL)
	return err == nil && base.Host != "" && u.Scheme == base.Scheme && strings.EqualFold(u.Host, base.Host)
}
