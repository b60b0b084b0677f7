package inbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/files"
)

// Files in the inbox: an operator attaches one to a reply (the reply form
// is multipart; the file goes through files.Ingest, then with the caption
// to bridge.Engine.HandleOperator, which keeps it with the operators when
// the caption is a command or a note), and the files of messages, from
// visitors or any platform, are served to logged-in operators only, as
// downloads that no browser sniffs or runs.

// fileURL is where the inbox serves the file of message seq.
func fileURL(conversationID string, seq uint64) string {
	return "/inbox/files/" + url.PathEscape(conversationID) + "/" + strconv.FormatUint(seq, 10)
}

// serveFile answers GET /inbox/files/{id}/{seq}: the file of a message the
// operator may see (not of a deleted one).
func (in *Inbox) serveFile(w http.ResponseWriter, r *http.Request, ss *session) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if in.cfg.Blobs == nil || err != nil || seq == 0 {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	msgs, err := in.engine.Messages(r.Context(), r.PathValue("id"), seq-1, 1)
	if err != nil && !errors.Is(err, bridge.ErrNotFound) && !errors.Is(err, bridge.ErrInvalid) {
		in.log.Error("read file message", "conversation", r.PathValue("id"), "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if len(msgs) != 1 || msgs[0].Seq != seq || msgs[0].File == nil || msgs[0].Deleted || !msgs[0].VisibleTo(operator(ss.op).Key()) {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	a := *msgs[0].File
	h := w.Header()
	etag := `"` + a.SHA256 + `"`
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Content-Disposition", contentDisposition(a.Name))
	if strings.Contains(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body, size, err := in.cfg.Blobs.Get(r.Context(), a.Key)
	if err != nil {
		h.Del("ETag")
		h.Set("Cache-Control", "no-store")
		if errors.Is(err, bridge.ErrNotFound) {
			http.Error(w, "the file is gone", http.StatusNotFound)
			return
		}
		in.log.Error("read file", "key", a.Key, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer body.Close()
	h.Set("Content-Type", a.Type)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.CopyN(w, body, size)
}

// contentDisposition offers name as a download name: an ASCII fallback,
// and the name itself (RFC 5987) when it differs.
func contentDisposition(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(name, "_"))
	ascii := strings.Map(func(r rune) rune {
		if r >= 0x7f || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	v := `attachment; filename="` + ascii + `"`
	if ascii == name {
		return v
	}
	var b strings.Builder
	for _, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return v + "; filename*=UTF-8''" + b.String()
}

// uploadError is an attached file that was not accepted, with what to
// tell the operator.
type uploadError struct {
	status int
	msg    string
}

func (e *uploadError) Error() string { return e.msg }

// ingest stores the file fh an operator attached; nil when none was.
func (in *Inbox) ingest(ctx context.Context, fh *multipart.FileHeader) (*bridge.Attachment, error) {
	if fh == nil || (fh.Filename == "" && fh.Size == 0) {
		return nil, nil // the form's empty file field
	}
	if in.cfg.Blobs == nil {
		return nil, &uploadError{http.StatusBadRequest, "This server does not keep files."}
	}
	if fh.Size > in.cfg.MaxFileBytes {
		return nil, &uploadError{http.StatusRequestEntityTooLarge, "The file is too large: the limit is " + files.Size(in.cfg.MaxFileBytes) + "."}
	}
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	// Operators' files keep their metadata: it is their own to share.
	a, err := files.Ingest(ctx, in.cfg.Blobs, f, fh.Filename, files.Options{MaxBytes: in.cfg.MaxFileBytes, TempDir: in.cfg.TempDir})
	switch {
	case errors.Is(err, files.ErrTooLarge):
		return nil, &uploadError{http.StatusRequestEntityTooLarge, "The file is too large: the limit is " + files.Size(in.cfg.MaxFileBytes) + "."}
	case errors.Is(err, bridge.ErrInvalid):
		return nil, &uploadError{http.StatusBadRequest, "The file was not sent: " + strings.TrimPrefix(err.Error(), bridge.ErrInvalid.Error()+": ") + "."}
	case err != nil:
		return nil, fmt.Errorf("store upload: %w", err)
	}
	return &a, nil
}
