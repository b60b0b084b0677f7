package inbox

import (
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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
	files.Serve(w, r, in.cfg.Blobs, *msgs[0].File, files.ServeOptions{Log: in.log})
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
