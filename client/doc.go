// Package client is the reference remote client of the Letta Code Remote
// Client protocol: a well-behaved peer that runs scripted sessions and
// checks what it gets.
//
// A Client attaches a session (control and stream sockets, or one socket)
// to a status WebSocket, with a bearer token or ?token=. It pings on attach
// and every PingInterval, acks every sequenced frame on the socket that
// delivered it, sends sync with recover_approvals after attaching and after
// every event_seq gap (tracked across all sockets of the session, since
// they share one counter), drops duplicate events by idempotency_key,
// matches replies by request_id against the accepted replies of
// protocol.DefaultModel, answers tool approvals and device pings, and
// reconnects with backoff after an abnormal close (1008: look the
// environment up again; "Replaced by new connection": stop).
//
// Run executes a Script (DefaultScript exercises every command of the
// reference, three turns and a reconnect) and returns a Report: counts,
// gaps, duplicates, orphans, assertion failures, and the ground truth of
// the client's own injected faults (Client.Inject).
package client
