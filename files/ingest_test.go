package files

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
)

func newBlobs(t *testing.T) (*blobdir.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "files")
	s, err := blobdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// stored counts the objects in the blob directory.
func stored(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 12, 7))
	for x := range 12 {
		img.Set(x, x%7, color.RGBA{200, 10, 10, 255})
	}
	return img
}

func pngBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testImage()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// secret is what the metadata would give away.
const secret = "GPSLatitude 48.8584 N GPSLongitude 2.2945 E"

// jpegWithExif is a JPEG whose APP1 segment carries EXIF text.
func jpegWithExif(t *testing.T) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(), nil); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	payload := append([]byte("Exif\x00\x00MM\x00\x2a"), secret...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, data[:2]...)
	out = append(out, seg...)
	return append(out, data[2:]...)
}

// pngWithText is a PNG with a tEXt chunk before its data.
func pngWithText(t *testing.T) []byte {
	data := pngBytes(t)
	body := []byte("Comment\x00" + secret)
	chunk := make([]byte, 8, 12+len(body))
	binary.BigEndian.PutUint32(chunk, uint32(len(body)))
	copy(chunk[4:], "tEXt")
	chunk = append(chunk, body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	i := len(pngSignature) + 25 // after IHDR (13 bytes of data + 12)
	out := append([]byte{}, data[:i]...)
	out = append(out, chunk...)
	return append(out, data[i:]...)
}

// webpWithExif is a 1×1 lossless WebP with a VP8X header and an EXIF chunk.
func webpWithExif(t *testing.T) []byte {
	plain, err := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	if err != nil {
		t.Fatal(err)
	}
	vp8x := []byte("VP8X\x0a\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00") // flags: EXIF; canvas 1×1
	exif := []byte(secret)
	if len(exif)%2 == 1 {
		exif = append(exif, ' ')
	}
	exifChunk := append([]byte("EXIF"), binary.LittleEndian.AppendUint32(nil, uint32(len(exif)))...)
	exifChunk = append(exifChunk, exif...)
	body := append([]byte("WEBP"), vp8x...)
	body = append(body, plain[12:]...)
	body = append(body, exifChunk...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func ingest(t *testing.T, blobs bridge.BlobStore, data []byte, name string, strip bool) (bridge.Attachment, error) {
	t.Helper()
	return Ingest(context.Background(), blobs, bytes.NewReader(data), name, Options{MaxBytes: 1 << 20, StripMetadata: strip, TempDir: t.TempDir()})
}

func read(t *testing.T, blobs bridge.BlobStore, key string) []byte {
	t.Helper()
	r, _, err := blobs.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return b
}

// Visitors' photos lose their location (and other metadata) before anyone
// sees them; the image still decodes, with its size recorded.
func TestMetadataRemoved(t *testing.T) {
	blobs, _ := newBlobs(t)
	for _, tc := range []struct {
		name, file, mime string
		data             []byte
		w, h             int
	}{
		{"jpeg", "holiday.jpg", "image/jpeg", jpegWithExif(t), 12, 7},
		{"png", "screenshot.png", "image/png", pngWithText(t), 12, 7},
		{"webp", "photo.webp", "image/webp", webpWithExif(t), 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(tc.data, []byte(secret)) {
				t.Fatal("the test file carries no metadata")
			}
			a, err := ingest(t, blobs, tc.data, tc.file, true)
			if err != nil {
				t.Fatal(err)
			}
			got := read(t, blobs, a.Key)
			if bytes.Contains(got, []byte(secret)) || bytes.Contains(got, []byte("GPS")) {
				t.Fatal("the stored image still carries the location")
			}
			if a.Type != tc.mime || a.Width != tc.w || a.Height != tc.h || a.Size != int64(len(got)) || a.Name != tc.file {
				t.Fatalf("attachment %+v", a)
			}
			if _, _, err := image.Decode(bytes.NewReader(got)); err != nil {
				t.Fatalf("the stripped image does not decode: %v", err)
			}
			// Without stripping (an operator's file) the bytes are kept.
			b, err := ingest(t, blobs, tc.data, tc.file, false)
			if err != nil || !bytes.Equal(read(t, blobs, b.Key), tc.data) {
				t.Fatalf("unstripped: %v", err)
			}
		})
	}
}

// Bad input gets a clear error and stores nothing: oversized, empty,
// truncated, a broken reader, a wrong type under an image name, HTML and
// SVG disguised as images.
func TestRefused(t *testing.T) {
	blobs, dir := newBlobs(t)
	pngData := pngBytes(t)
	for _, tc := range []struct {
		name string
		r    io.Reader
		file string
		want error
	}{
		{"empty", bytes.NewReader(nil), "a.txt", ErrEmpty},
		{"oversized", bytes.NewReader(make([]byte, 1<<20+1)), "big.bin", ErrTooLarge},
		{"truncated png", bytes.NewReader(pngData[:len(pngData)-20]), "cut.png", ErrDamaged},
		{"interrupted upload", io.MultiReader(bytes.NewReader(pngData[:100]), iotest.ErrReader(errors.New("reset by peer"))), "x.png", ErrDamaged},
		{"text called png", strings.NewReader("just some text"), "cat.png", ErrType},
		{"html called png", strings.NewReader("<!DOCTYPE html><html><script>alert(1)</script></html>"), "cat.png", ErrType},
		{"html", strings.NewReader("<html><body onload=alert(1)>"), "page.html", ErrType},
		{"svg", strings.NewReader(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), "logo.svg", ErrType},
		{"svg with xml header", strings.NewReader(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "logo.png", ErrType},
		{"jpeg header only", bytes.NewReader([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}), "x.jpg", ErrDamaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Ingest(context.Background(), blobs, tc.r, tc.file, Options{MaxBytes: 1 << 20, StripMetadata: true, TempDir: t.TempDir()})
			if !errors.Is(err, tc.want) || !errors.Is(err, bridge.ErrInvalid) {
				t.Fatalf("err = %v, want %v (and bridge.ErrInvalid)", err, tc.want)
			}
			if n := stored(t, dir); n != 0 {
				t.Fatalf("%d objects stored after a refusal", n)
			}
		})
	}
}

// Accepted files: types from the bytes, not the name.
func TestTypes(t *testing.T) {
	blobs, _ := newBlobs(t)
	var g bytes.Buffer
	if err := gif.Encode(&g, testImage(), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		data       []byte
		file       string
		mime, name string
	}{
		{[]byte("%PDF-1.7\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n"), "invoice", "application/pdf", "invoice.pdf"},
		{[]byte("order 1234: 2 mugs\n"), "notes.txt", "text/plain; charset=utf-8", "notes.txt"},
		{[]byte("PK\x03\x04\x14\x00\x00\x00"), "logs.zip", "application/zip", "logs.zip"},
		{[]byte{0, 1, 2, 3, 0xFE, 0xFF}, "data.bin", "application/octet-stream", "data.bin"},
		{g.Bytes(), "anim", "image/gif", "anim.gif"},
		{pngBytes(t), "screen shot", "image/png", "screen shot.png"},
	} {
		a, err := ingest(t, blobs, tc.data, tc.file, true)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if a.Type != tc.mime || a.Name != tc.name || a.Key != bridge.BlobKey(a.SHA256) {
			t.Errorf("%s: %+v, want %s named %s", tc.file, a, tc.mime, tc.name)
		}
	}
}

func TestCleanName(t *testing.T) {
	for _, tc := range []struct{ in, ext, want string }{
		{"../../etc/passwd", "", "passwd"},
		{`C:\Users\ann\Desktop\photo.jpg`, ".jpg", "photo.jpg"},
		{"photo.jpeg", ".jpg", "photo.jpeg"},
		{"invoice\u202Egpj.exe", "", "invoicegpj.exe"},
		{"a\x00b\x1b[2Jc.txt", "", "ab[2Jc.txt"},
		{"   .hidden  ", "", "hidden"},
		{"", ".png", "file.png"},
		{"...", "", "file"},
		{"new\nline.pdf", ".pdf", "new line.pdf"},
		{`"quote"<>|*?.txt`, "", "_quote______.txt"},
		{strings.Repeat("é", 150) + ".pdf", ".pdf", strings.Repeat("é", 96) + ".pdf"},
		{"bad\xffutf8.txt", "", "badutf8.txt"},
	} {
		if got := CleanName(tc.in, tc.ext); got != tc.want {
			t.Errorf("CleanName(%q, %q) = %q, want %q", tc.in, tc.ext, got, tc.want)
		}
	}
}

// FuzzIngest: whatever the bytes and the name, Ingest either refuses with
// bridge.ErrInvalid or stores an attachment that matches what it stored,
// never HTML, and a clean name.
func FuzzIngest(f *testing.F) {
	f.Add([]byte("hello"), "a.txt")
	f.Add([]byte("<svg/>"), "x.png")
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "x.png")
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 4, 0, 0, 0xFF, 0xDA}, "x.jpg")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		dir := t.TempDir()
		blobs, err := blobdir.Open(filepath.Join(dir, "files"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := Ingest(context.Background(), blobs, bytes.NewReader(data), name, Options{MaxBytes: 4096, StripMetadata: true, TempDir: dir})
		if err != nil {
			if !errors.Is(err, bridge.ErrInvalid) {
				t.Fatalf("Ingest error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if strings.Contains(a.Type, "html") || strings.Contains(a.Type, "svg") || strings.Contains(a.Type, "xml") {
			t.Fatalf("stored a %s", a.Type)
		}
		if a.Name == "" || strings.ContainsAny(a.Name, "/\\\x00\n") {
			t.Fatalf("name %q", a.Name)
		}
		r, n, err := blobs.Get(context.Background(), a.Key)
		if err != nil || n != a.Size {
			t.Fatalf("stored %d bytes, attachment says %d (%v)", n, a.Size, err)
		}
		r.Close()
	})
}
