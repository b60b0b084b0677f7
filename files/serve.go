package files

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

// ServeOptions adjust Serve to where the file is shown.
type ServeOptions struct {
	// CrossOrigin lets pages of other origins embed the file (the widget
	// runs on the site's pages, not on chatbridge's origin), and sends no
	// referrer with it.
	CrossOrigin bool
	// Log receives read failures (nil: none).
	Log *slog.Logger
}

// Serve writes the bytes of a as a download that no browser sniffs or
// runs: its own type, nosniff, attachment, and a CSP that sandboxes it
// should it ever be opened as a document (<img> still shows images). The
// caller decided that the request may see a.
func Serve(w http.ResponseWriter, r *http.Request, blobs bridge.BlobStore, a bridge.Attachment, opts ServeOptions) {
	h := w.Header()
	etag := `"` + a.SHA256 + `"`
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	if opts.CrossOrigin {
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		h.Set("Referrer-Policy", "no-referrer")
	}
	h.Set("Content-Disposition", ContentDisposition(a.Name))
	if strings.Contains(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body, size, err := blobs.Get(r.Context(), a.Key)
	if err != nil {
		h.Del("ETag")
		h.Set("Cache-Control", "no-store")
		if errors.Is(err, bridge.ErrNotFound) {
			http.Error(w, "file not found", http.StatusNotFound)
			return
		}
		if opts.Log != nil {
			opts.Log.Error("read file", "key", a.Key, "err", err)
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer body.Close()
	h.Set("Content-Type", a.Type)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.CopyN(w, body, size)
	}
}

// ContentDisposition offers name as a download name: an ASCII fallback,
// and the name itself (RFC 5987) when it differs.
func ContentDisposition(name string) string {
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
