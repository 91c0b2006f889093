// Package proxy is wsproxy's recording man-in-the-middle for the Letta Code
// status WebSocket.
//
// A Proxy is an http.Handler. For a WebSocket upgrade it dials the
// upstream with the client's own handshake (path, query, Authorization,
// cookies, subprotocols and extension offers pass through, so the two real
// ends negotiate), relays the upstream's answer, and then copies both
// directions byte for byte: fragmentation, masking, RSV bits, interleaved
// control frames and odd close codes arrive exactly as sent. Beside the
// copy, a wsframe.Decoder per direction unmasks, reassembles and inflates
// the frames into trace records (one per message and per control frame),
// which a single goroutine hands to Options.Sink in arrival order: a
// recorder, a live checker, a console printer, or all of them through
// trace.Tee. Relaying never waits for the sink; if it falls too far
// behind, records are dropped and the loss is reported.
//
// Other requests (such as GET /v1/environments) are reverse-proxied to the
// upstream and recorded as http records. Secrets (Authorization, token
// query parameters, secret-named JSON members) are redacted from records
// unless Options.KeepSecrets is set; the relayed bytes are never changed.
//
// The proxy closes a connection with 1009 when a frame or message exceeds
// Options.MaxFrame, sends the client 1011 when the upstream dies
// mid-session and the upstream 1001 when the client vanishes, and on
// Shutdown closes every connection with 1001 and flushes every record.
package proxy
