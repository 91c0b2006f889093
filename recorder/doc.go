// Package recorder writes and reads trace files (format v1, see
// traces/FORMAT.md).
//
// A Writer is safe for concurrent use: callers encode their record and
// hand it to a bounded buffer that a background goroutine compresses
// (zstd by default) and writes as complete zstd frames of whole lines at
// least every FlushInterval, so that after a crash every record older than
// that can be read back, by this package and by outside tools (`zstd -dc`,
// DuckDB) without a broken line. Files are created with mode 0600.
//
// A Reader streams records in constant memory from zstd, gzip or plain
// JSON Lines (told apart by their first bytes). It reads files that are
// still being written or were cut off, keeping every complete record and
// reporting the cut (or a missing end mark) as a Warning, and rejects
// files that are not traces or have an unknown major version with an
// error naming the file and line.
package recorder
