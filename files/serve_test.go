package files

import "testing"

// ContentDisposition offers the name safely, with an ASCII fallback.
func TestContentDisposition(t *testing.T) {
	for name, want := range map[string]string{
		"invoice.pdf":   `attachment; filename="invoice.pdf"`,
		"my photo.jpg":  `attachment; filename="my photo.jpg"`,
		"résumé.pdf":    `attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`,
		`a"b\c.txt`:     `attachment; filename="a_b_c.txt"; filename*=UTF-8''a%22b%5Cc.txt`,
		"100%.png":      `attachment; filename="100_.png"; filename*=UTF-8''100%25.png`,
		"\xff\xfe.bin":  `attachment; filename="_.bin"`,
		"日本語.png":       `attachment; filename="___.png"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.png`,
		"line\nbrk.txt": `attachment; filename="line_brk.txt"`,
	} {
		if got := ContentDisposition(name); got != want {
			t.Errorf("ContentDisposition(%q) = %s, want %s", name, got, want)
		}
	}
}
