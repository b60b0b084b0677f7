package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders for image.DecodeConfig
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"os"
	"strings"

	_ "golang.org/x/image/webp"

	"github.com/chatbridge/chatbridge/bridge"
)

// Errors of Ingest; each wraps bridge.ErrInvalid, and says what to do in
// its text.
var (
	ErrEmpty    = errors.New("the file is empty")
	ErrTooLarge = errors.New("the file is too large")
	ErrType     = errors.New("this kind of file is not accepted")
	ErrDamaged  = errors.New("the file is damaged or incomplete")
)

// Options tune Ingest.
type Options struct {
	// MaxBytes refuses larger files (required).
	MaxBytes int64
	// StripMetadata removes location and other metadata (EXIF, XMP, text
	// chunks) from JPEG, PNG and WebP images before they are stored:
	// visitors' photos must not tell operators where they were taken.
	StripMetadata bool
	// TempDir holds the file while it is checked (default os.TempDir()).
	TempDir string
	// Hold, when set, is called with the blob key just before the bytes are
	// stored (bridge.Engine.HoldBlob), so that a concurrent clean-up of the
	// same bytes keeps them.
	Hold func(key string)
}

// Ingest reads a file from r, checks it, and stores it in blobs under its
// content address (bridge.BlobKey). name is the name the sender gave. The
// returned Attachment is ready for a message. On any error nothing is
// stored.
func Ingest(ctx context.Context, blobs bridge.BlobStore, r io.Reader, name string, opts Options) (bridge.Attachment, error) {
	if opts.MaxBytes <= 0 {
		return bridge.Attachment{}, fmt.Errorf("ingest: %w: no size limit", bridge.ErrInvalid)
	}
	tmp, err := os.CreateTemp(opts.TempDir, "chatbridge-upload-*")
	if err != nil {
		return bridge.Attachment{}, fmt.Errorf("ingest: %w", err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	n, err := io.Copy(tmp, io.LimitReader(r, opts.MaxBytes+1))
	switch {
	case err != nil:
		return bridge.Attachment{}, fmt.Errorf("%w: %w: the upload did not finish (%v)", bridge.ErrInvalid, ErrDamaged, err)
	case n == 0:
		return bridge.Attachment{}, fmt.Errorf("%w: %w", bridge.ErrInvalid, ErrEmpty)
	case n > opts.MaxBytes:
		return bridge.Attachment{}, fmt.Errorf("%w: %w: the limit is %s", bridge.ErrInvalid, ErrTooLarge, Size(opts.MaxBytes))
	}
	head := make([]byte, min(n, 3072))
	if _, err := tmp.ReadAt(head, 0); err != nil {
		return bridge.Attachment{}, fmt.Errorf("ingest: %w", err)
	}
	kind, err := classify(head, name)
	if err != nil {
		return bridge.Attachment{}, err
	}
	a := bridge.Attachment{Type: kind.mime, Name: CleanName(name, kind.ext)}

	// The bytes to store: the file as sent, or an image without its
	// metadata.
	var body io.ReadSeeker = tmp
	size := n
	if kind.image {
		data, err := os.ReadFile(tmp.Name())
		if err != nil {
			return bridge.Attachment{}, fmt.Errorf("ingest: %w", err)
		}
		if opts.StripMetadata {
			if data, err = strip(kind.mime, data); err != nil {
				return bridge.Attachment{}, fmt.Errorf("%w: %w: %v", bridge.ErrInvalid, ErrDamaged, err)
			}
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
			return bridge.Attachment{}, fmt.Errorf("%w: %w: it is not a readable %s image", bridge.ErrInvalid, ErrDamaged, strings.ToUpper(strings.TrimPrefix(kind.ext, ".")))
		}
		if !complete(kind.mime, data) {
			return bridge.Attachment{}, fmt.Errorf("%w: %w: the image is cut short", bridge.ErrInvalid, ErrDamaged)
		}
		a.Width, a.Height = cfg.Width, cfg.Height
		body, size = bytes.NewReader(data), int64(len(data))
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return bridge.Attachment{}, fmt.Errorf("ingest: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, body); err != nil {
		return bridge.Attachment{}, fmt.Errorf("ingest: %w", err)
	}
	a.SHA256 = hex.EncodeToString(h.Sum(nil))
	a.Key, a.Size = bridge.BlobKey(a.SHA256), size
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return bridge.Attachment{}, fmt.Errorf("ingest: %w", err)
	}
	if opts.Hold != nil {
		opts.Hold(a.Key)
	}
	if err := blobs.Put(ctx, a.Key, body, size); err != nil {
		return bridge.Attachment{}, fmt.Errorf("ingest: store: %w", err)
	}
	return a, nil
}

// kind is what a file is, from its bytes.
type kind struct {
	mime  string
	ext   string // the extension its name should have, or "" to keep the sender's
	image bool
}

// images are the image types shown inline (bridge.Attachment.IsImage).
var images = map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}

// classify decides what head (the start of a file called name) is.
func classify(head []byte, name string) (kind, error) {
	sniffed := http.DetectContentType(head)
	mime, _, _ := strings.Cut(sniffed, ";")
	lower := bytes.ToLower(bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n"))
	markup := mime == "text/html" || mime == "text/xml" || bytes.HasPrefix(lower, []byte("<svg")) ||
		bytes.Contains(lower, []byte("<svg")) && (mime == "text/plain" || mime == "text/xml")
	if markup {
		return kind{}, fmt.Errorf("%w: %w: HTML, XML and SVG files could run script; send a PDF, a PNG or a JPEG instead", bridge.ErrInvalid, ErrType)
	}
	if ext, ok := images[mime]; ok {
		return kind{mime: mime, ext: ext, image: true}, nil
	}
	if claimed := claimedImage(name); claimed != "" {
		return kind{}, fmt.Errorf("%w: %w: %q is not the %s image its name says", bridge.ErrInvalid, ErrType, name, claimed)
	}
	switch {
	case mime == "text/plain":
		return kind{mime: "text/plain; charset=utf-8"}, nil
	case mime == "application/pdf":
		return kind{mime: mime, ext: ".pdf"}, nil
	case strings.HasPrefix(mime, "audio/"), strings.HasPrefix(mime, "video/"), mime == "application/zip", mime == "application/x-gzip",
		mime == "application/vnd.rar", mime == "application/x-rar-compressed", mime == "application/octet-stream":
		return kind{mime: mime}, nil
	}
	// Anything else the sniffer knows (fonts, wasm, PostScript…) is kept
	// only as an opaque download.
	return kind{mime: "application/octet-stream"}, nil
}

// claimedImage is the image type a file name claims ("PNG"), or "".
func claimedImage(name string) string {
	lower := strings.ToLower(name)
	for _, ext := range []string{".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".heic", ".bmp"} {
		if strings.HasSuffix(lower, ext) {
			return strings.ToUpper(strings.TrimPrefix(ext, "."))
		}
	}
	return ""
}

// Size renders a byte count for people ("10 MB").
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
