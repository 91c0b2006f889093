// Package tap turns the bytes of a WebSocket connection into trace
// records, with no I/O of its own: the one place where wire bytes become
// records. The live proxy feeds it from its sockets, beside the byte-exact
// relay (never in front of it); the capture importer feeds it reassembled
// TCP streams with packet timestamps; tests feed it scripted chunks.
//
// A connection starts with its handshake (Open gives the open record, or
// Refused an http record for a refused upgrade). Each direction's bytes
// are then fed as timestamped chunks of any size (Conn.Feed, or a
// Stream's Feed for a caller that forwards bytes itself and must know
// where frames end); messages are reassembled from their fragments and
// inflated under permessage-deflate (with or without context takeover),
// and control frames come out in place, between the fragments they
// interrupted. End marks the end of one direction's stream, Close gives
// the connection's close record.
//
// Redaction is one stage of the tap, driven by one redact.Policy: the
// URL, the handshake headers and every text payload are redacted before a
// record leaves the package, so no secret reaches a sink.
//
// Records come out unnumbered (N 0) with T set to the time of the chunk
// that completed them; the hub numbers them when they are emitted. A Conn
// may be fed from two goroutines at once, one per direction.
package tap
