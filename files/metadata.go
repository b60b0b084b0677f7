package files

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// strip removes metadata from an image without decoding its pixels:
// JPEG APP1 (EXIF, XMP), APP13 (IPTC) and comment segments; PNG eXIf and
// text chunks; WebP EXIF and XMP chunks. GIF carries no location and is
// kept as it is.
func strip(mime string, data []byte) ([]byte, error) {
	switch mime {
	case "image/jpeg":
		return stripJPEG(data)
	case "image/png":
		return stripPNG(data)
	case "image/webp":
		return stripWebP(data)
	}
	return data, nil
}

var errFormat = errors.New("malformed image")

func stripJPEG(data []byte) ([]byte, error) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, errFormat
	}
	out := append(make([]byte, 0, len(data)), 0xFF, 0xD8)
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return nil, fmt.Errorf("%w: no marker at %d", errFormat, i)
		}
		marker := data[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan, end: the rest is image data
			return append(out, data[i:]...), nil
		}
		if marker >= 0xD0 && marker <= 0xD7 || marker == 0x01 { // no length
			out = append(out, data[i:i+2]...)
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return nil, fmt.Errorf("%w: segment past the end", errFormat)
		}
		seg := data[i : i+2+n]
		drop := marker == 0xE1 || marker == 0xED || marker == 0xFE
		if !drop {
			out = append(out, seg...)
		}
		i += 2 + n
	}
	return nil, fmt.Errorf("%w: no image data", errFormat)
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

func stripPNG(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, pngSignature) {
		return nil, errFormat
	}
	out := append(make([]byte, 0, len(data)), pngSignature...)
	for i := len(pngSignature); i < len(data); {
		if i+12 > len(data) {
			return nil, fmt.Errorf("%w: chunk past the end", errFormat)
		}
		n := int(binary.BigEndian.Uint32(data[i:]))
		if n < 0 || n > len(data) || i+12+n > len(data) {
			return nil, fmt.Errorf("%w: chunk past the end", errFormat)
		}
		typ := string(data[i+4 : i+8])
		chunk := data[i : i+12+n]
		switch typ {
		case "eXIf", "tEXt", "zTXt", "iTXt", "tIME":
		default:
			out = append(out, chunk...)
		}
		i += 12 + n
		if typ == "IEND" {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: no IEND chunk", errFormat)
}

func stripWebP(data []byte) ([]byte, error) {
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return nil, errFormat
	}
	out := append(make([]byte, 0, len(data)), data[:12]...)
	vp8x := -1
	for i := 12; i < len(data); {
		if i+8 > len(data) {
			return nil, fmt.Errorf("%w: chunk past the end", errFormat)
		}
		fourcc := string(data[i : i+4])
		n := int(binary.LittleEndian.Uint32(data[i+4:]))
		padded := n + n&1
		if n < 0 || i+8+padded > len(data) {
			return nil, fmt.Errorf("%w: chunk past the end", errFormat)
		}
		switch fourcc {
		case "EXIF", "XMP ":
		default:
			if fourcc == "VP8X" && n >= 1 {
				vp8x = len(out) + 8
			}
			out = append(out, data[i:i+8+padded]...)
		}
		i += 8 + padded
	}
	if vp8x >= 0 {
		out[vp8x] &^= 0x08 | 0x04 // no EXIF, no XMP
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out, nil
}

// complete reports whether an image's bytes reach its end marker: a
// truncated upload decodes its header but not its pixels.
func complete(mime string, data []byte) bool {
	switch mime {
	case "image/png":
		return bytes.Contains(data[max(0, len(data)-64):], []byte("IEND"))
	case "image/jpeg":
		return bytes.Contains(data[max(0, len(data)-1024):], []byte{0xFF, 0xD9})
	case "image/gif":
		return len(data) > 0 && bytes.LastIndexByte(data, 0x3B) >= len(data)-8
	case "image/webp":
		return len(data) >= 8 && int(binary.LittleEndian.Uint32(data[4:]))+8 <= len(data)
	}
	return true
}
