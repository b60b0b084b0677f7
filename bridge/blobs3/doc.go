// Package blobs3 is a bridge.BlobStore on S3-compatible object storage:
// AWS S3, Cloudflare R2, MinIO, Ceph's RGW, versitygw and the like. It is
// the binary's only importer of the S3 client library (minio-go).
//
// Each key is an object named Prefix + key in one bucket, so that several
// sites can share a bucket under different prefixes.
//
// A Put is all or nothing, as the contract requires:
//
//   - a file of at most one part (PartSize, 8 MiB by default) is read into
//     memory first, and sent in one PUT only once exactly size bytes were
//     read and the reader is at its end: a short read, a failing reader or
//     a cancelled context never reaches the server;
//   - a larger file is a multipart upload of equal parts, read and sent one
//     at a time (memory holds one part, never the whole file); the upload
//     is completed only after the last part, once the byte count is right
//     and the reader is at its end, and aborted on any error, so that
//     nothing appears under the key. An abort that itself fails leaves an
//     invisible incomplete upload: a bucket lifecycle rule that aborts
//     incomplete multipart uploads after a day cleans those up.
//
// Every request that carries bytes (a PUT, a part) has a Content-MD5
// header and is signed with the SHA-256 of its body
// (x-amz-content-sha256), so the server refuses bytes damaged on the way
// instead of storing them.
//
// Get of a missing key wraps bridge.ErrNotFound; Delete of a key ending in
// "/" lists the objects under it and removes them in batches.
package blobs3
