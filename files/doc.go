// Package files turns the bytes of a file someone sends — a visitor's
// upload, a file an operator shared in Slack or Matrix or the inbox — into
// a bridge.Attachment stored in a bridge.BlobStore: the type is decided from
// the bytes (never from the name or a Content-Type header), HTML and SVG
// are refused (they could run script in a browser), names are cleaned of
// paths and control characters, location and other metadata can be removed
// from photos, and a refused, oversized, empty or truncated file stores
// nothing.
package files
