// Package blobs3 is a bridge.BlobStore on S3-compatible object storage:
// AWS S3, Cloudflare R2, MinIO, Ceph's RGW, versitygw and the like. It is
// the binary's only importer of the S3 client library (minio-go).
//
// Each key is an object named Prefix + key in one bucket, so that several
// sites can share a bucket under different prefixes.
//
// A Put is all or nothing, as the contract requires:
//
//   - a file of at most one part (PartSize, 8 MiB by default) is sent in
//     one PUT, only once exactly size bytes were read (and hashed) and the
//     reader is known to hold no more: a short read, a longer reader, a
//     failing reader or a cancelled context never reaches the server;
//   - a larger file is a multipart upload of equal parts, read and sent one
//     at a time; the upload is completed only after the last part, once the
//     byte count is right and the reader is at its end, and aborted on any
//     error, so that nothing appears under the key. An abort that itself
//     fails leaves an invisible incomplete upload: a bucket lifecycle rule
//     that aborts incomplete multipart uploads after a day cleans those up.
//
// A reader that can be read at offsets (io.ReaderAt and io.Seeker: a file,
// a bytes.Reader, which is what files.Ingest hands over) is measured first
// and sent from where it is, never copied into memory. Any other reader is
// read one part at a time into a buffer, so memory holds at most one part
// of a file, never the whole of a large one.
//
// Every request that carries bytes (a PUT, a part) has a Content-MD5
// header and is signed with the SHA-256 of its body
// (x-amz-content-sha256), so the server refuses bytes damaged on the way
// instead of storing them.
//
// Get of a missing key wraps bridge.ErrNotFound; Delete of a key ending in
// "/" lists the objects under it and removes them in batches.
package blobs3
