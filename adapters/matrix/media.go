package matrix

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/files"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Files go both ways as native Matrix media: a visitor's file is uploaded
// to the homeserver's media repository (once per content: the mxc:// URI
// is kept in the store under "mxc/<sha256>") and shown as m.image,
// m.video, m.audio or m.file; an operator's media event is downloaded (with
// authentication where the homeserver offers it), checked and stored by
// files.Ingest, and relayed with its caption.

// errFileUnavailable: the bytes of a file cannot be shown in the room; the
// message is shown as text saying why.
type errFileUnavailable struct{ why string }

func (e errFileUnavailable) Error() string { return "file not shown: " + e.why }

func mxcKey(sha256 string) string { return "mxc/" + sha256 }

// upload puts a file's bytes into the media repository, once per content.
func (a *Adapter) upload(ctx context.Context, att bridge.Attachment) (id.ContentURIString, error) {
	if att.SHA256 != "" {
		b, err := a.engine.AdapterState(ctx, stateNamespace, mxcKey(att.SHA256))
		switch {
		case err == nil && len(b) > 0:
			return id.ContentURIString(b), nil
		case err != nil && !errors.Is(err, bridge.ErrNotFound):
			return "", fmt.Errorf("find upload of %s: %w", att.Name, err)
		}
	}
	if a.cfg.Blobs == nil {
		return "", errFileUnavailable{"chatbridge keeps no files (no blob store)"}
	}
	r, size, err := a.cfg.Blobs.Get(ctx, att.Key)
	if errors.Is(err, bridge.ErrNotFound) {
		return "", errFileUnavailable{"the file is no longer stored"}
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", att.Name, err)
	}
	defer r.Close()
	resp, err := a.client.UploadMedia(ctx, mautrix.ReqUploadMedia{
		Content: r, ContentLength: size, ContentType: att.Type, FileName: att.Name,
	})
	if err != nil {
		var herr mautrix.HTTPError
		if errors.Is(err, mautrix.MTooLarge) || errors.As(err, &herr) && herr.Response != nil && herr.Response.StatusCode == http.StatusRequestEntityTooLarge {
			return "", errFileUnavailable{"it is too large for the homeserver (" + files.Size(size) + ")"}
		}
		return "", fmt.Errorf("upload %s: %w", att.Name, a.wrap(err))
	}
	uri := resp.ContentURI.CUString()
	if att.SHA256 != "" {
		err = a.engine.SaveAdapter(context.WithoutCancel(ctx), stateNamespace, bridge.AdapterChange{
			State: map[string][]byte{mxcKey(att.SHA256): []byte(uri)},
		})
		if err != nil {
			return "", fmt.Errorf("record upload of %s: %w", att.Name, err)
		}
	}
	return uri, nil
}

// fileContent shows message m's file natively: the caption is the body
// (Matrix clients show a body that differs from "filename" as the caption),
// labelled with its author unless a ghost (the visitor's own user) sends
// it. A file that cannot be shown is described in text instead.
func (a *Adapter) fileContent(ctx context.Context, m bridge.Message, ghost bool) (content, error) {
	att := *m.File
	caption := strings.TrimSpace(m.Text)
	var c content
	switch {
	case ghost && caption == "":
		c = textContent("m.text", defang(att.Name), "", nil)
	case ghost:
		c = textContent("m.text", defang(caption), "", nil)
	case caption != "":
		var ok bool
		if c, ok = messageContent(m); !ok {
			return nil, fmt.Errorf("%w: message %d is not shown in Matrix", bridge.ErrPermanent, m.Seq)
		}
	default:
		label, name := defang(fileLabel(m)), defang(att.Name)
		c = textContent("m.text", label+" sent "+name, "<b>"+escape(label)+"</b> sent "+escape(name), nil)
	}
	uri, err := a.upload(ctx, att)
	var gone errFileUnavailable
	if errors.As(err, &gone) {
		a.log.Warn("matrix file shown as text", "conversation", m.ConversationID, "seq", m.Seq, "why", gone.why)
		note := fmt.Sprintf("(a file, %s, %s: not shown here: %s)", defang(att.Name), files.Size(att.Size), gone.why)
		c["body"] = c["body"].(string) + "\n" + note
		if f, ok := c["formatted_body"].(string); ok {
			c["formatted_body"] = f + "<br><i>" + escape(note) + "</i>"
		}
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	info := map[string]any{"mimetype": att.Type, "size": att.Size}
	if att.Width > 0 && att.Height > 0 {
		info["w"], info["h"] = att.Width, att.Height
	}
	c["msgtype"] = string(mediaMsgType(att))
	c["url"] = string(uri)
	c["filename"] = att.Name
	c["info"] = info
	return c, nil
}

// fileLabel names who sent a file without a caption.
func fileLabel(m bridge.Message) string {
	switch m.From {
	case bridge.FromVisitor:
		return strings.Join(lines(m.Author), " ") + " (visitor)"
	case bridge.FromOperator:
		if m.Visibility == bridge.VisibilityNote {
			return operatorLabel(m) + ", private note"
		}
		return operatorLabel(m)
	}
	return "chatbridge"
}

// mediaMsgType is the msgtype that shows a file: images the widget shows
// inline are m.image (never SVG), video and audio theirs, the rest m.file.
func mediaMsgType(att bridge.Attachment) event.MessageType {
	switch {
	case att.IsImage():
		return event.MsgImage
	case strings.HasPrefix(att.Type, "video/"):
		return event.MsgVideo
	case strings.HasPrefix(att.Type, "audio/"):
		return event.MsgAudio
	}
	return event.MsgFile
}

// authenticatedMedia reports whether the homeserver serves media with
// authentication (spec v1.11, MSC3916), asking /versions once; when it
// cannot be asked, the unauthenticated endpoint is used this time.
func (a *Adapter) authenticatedMedia(ctx context.Context) bool {
	a.mu.Lock()
	known := a.mediaAuth
	a.mu.Unlock()
	if known != nil {
		return *known
	}
	v, err := a.client.Versions(ctx)
	if err != nil {
		a.log.Warn("matrix versions not read: downloading media without authentication", "err", err)
		return false
	}
	auth := v.Supports(mautrix.FeatureAuthenticatedMedia)
	a.mu.Lock()
	a.mediaAuth = &auth
	a.mu.Unlock()
	return auth
}

// download opens the bytes of mxc: GET /_matrix/client/v1/media/download
// with the access token where the homeserver offers it, else the older
// /_matrix/media/v3/download.
func (a *Adapter) download(ctx context.Context, mxc id.ContentURI) (io.ReadCloser, error) {
	var (
		resp *http.Response
		err  error
	)
	if a.authenticatedMedia(ctx) {
		resp, err = a.client.Download(ctx, mxc)
	} else {
		_, resp, err = a.client.MakeFullRequestWithResp(ctx, mautrix.FullRequest{
			Method:           http.MethodGet,
			URL:              a.client.BuildURL(mautrix.MediaURLPath{"v3", "download", mxc.Homeserver, mxc.FileID}),
			DontReadResponse: true,
		})
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("download %s: %w", mxc, err)
	}
	return resp.Body, nil
}

// readErrReader remembers a read error, so that a download cut short (to
// be retried) is told apart from a file Ingest refuses.
type readErrReader struct {
	r   io.Reader
	err error
}

func (r *readErrReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// ingest downloads an operator's media event and stores it; refused is
// what to tell the operator when the file is not sent (too large, a kind
// that is not accepted, gone from the homeserver). err is a failure that a
// retry can fix.
func (a *Adapter) ingest(ctx context.Context, msg *event.MessageEventContent) (att bridge.Attachment, refused string, err error) {
	name := msg.GetFileName()
	if name == "" {
		name = "file"
	}
	notSent := "The file " + name + " was not sent to the visitor: "
	switch {
	case a.cfg.Blobs == nil:
		return att, notSent + "this chatbridge keeps no files.", nil
	case msg.URL == "" && msg.File != nil:
		return att, notSent + "it is end-to-end encrypted, which chatbridge does not support.", nil
	case msg.Info != nil && int64(msg.Info.Size) > a.cfg.MaxFileBytes:
		return att, notSent + fmt.Sprintf("%v: the limit is %s.", files.ErrTooLarge, files.Size(a.cfg.MaxFileBytes)), nil
	}
	mxc, perr := msg.URL.Parse()
	if perr != nil || mxc.IsEmpty() {
		return att, notSent + "the message has no valid file address.", nil
	}
	body, err := a.download(ctx, mxc)
	if err != nil {
		var herr mautrix.HTTPError
		if errors.As(err, &herr) && herr.Response != nil && herr.Response.StatusCode >= 400 && herr.Response.StatusCode < 500 && herr.Response.StatusCode != http.StatusTooManyRequests {
			return att, notSent + "the homeserver did not give it to chatbridge (" + herr.Response.Status + ").", nil
		}
		return att, "", err
	}
	defer body.Close()
	rd := &readErrReader{r: body}
	att, err = files.Ingest(ctx, a.cfg.Blobs, rd, name, files.Options{MaxBytes: a.cfg.MaxFileBytes})
	switch {
	case err == nil:
		return att, "", nil
	case rd.err != nil:
		return att, "", fmt.Errorf("download %s: %w", mxc, rd.err)
	case errors.Is(err, bridge.ErrInvalid):
		return att, notSent + invalidReason(err) + ".", nil
	}
	return att, "", err
}
