// Package replay serves recorded sessions back to clients, and plays
// recorded clients against live servers, so that either side of the
// Letta Code Remote Client protocol can be tested against a recording.
//
// A Server (an http.Handler) accepts the status WebSocket's URLs
// (/v1/environments/{connectionId}/status/ws?...&channel=... and /ws) and
// GET /v1/environments, and serves the trace's sessions to successive
// clients, one socket per recorded socket (matched by channel). In
// Reactive mode each recorded server frame is sent once the client has
// sent the frames recorded before it; client frames are matched by type
// and order, never bytes, and the request_id of every replayed reply is
// rewritten to the id the live client used. Timed and Fast modes play the
// server side on the recorded clock, or as fast as the client reads.
//
// Transport noise is never a divergence: recorded acks, pongs and client
// pings are not expected from the live client; its pings are answered with
// a pong, its acks are checked against the seqs it was sent; the
// recording's server pings (device heartbeats) are replayed like any
// frame, its server pongs are not.
//
// A recorder writes the records of different sockets (and directions) in
// the order their goroutines hand them over, which can differ slightly
// from the order the frames were read; a replay puts each session's
// records back in read-time order (over a window of 256 records). In
// Reactive mode, a device event is sent as soon as an event with a higher
// event_seq has been sent, even if the recording has it after a client
// frame not yet received: the device had emitted it already, and a
// client's gap check may wait for it.
//
// Drive plays the client side of a recording against a live server and
// compares the server's frames with the recorded ones. Both produce a
// Report of matched, unexpected, missing and out-of-order frames with
// their trace lines.
//
// A replay streams the trace: ReadIndex makes one pass to find the
// sessions, then each session reads the file again, keeping only what is
// between the frames it sends and those it expects.
//
// NewTestServer wraps a Server in an httptest server for Go tests.
package replay
