// Package sim is a simulated Letta Code environment for the Remote Client
// protocol: the cloud relay's environments endpoint and status WebSocket,
// and a device behind it.
//
// A Server lists its environments at GET /v1/environments?onlineOnly=true
// and serves the status WebSocket at
// /v1/environments/{connectionId}/status/ws?agentId=…&conversationId=…&channel=control|stream
// (no channel: one socket carrying everything). Auth is a bearer token in
// the Authorization header or ?token=.
//
// The relay layer adds a transport seq (per socket, from 1) to every frame
// except its own pongs, tracks the client's acks and answers client pings.
// The device layer keeps one event_seq counter per connection, shared by
// every socket and runtime and continuing across reconnects; its events
// carry runtime, event_seq, emitted_at and idempotency_key and travel on
// the channel the protocol table (protocol.DefaultModel) gives them; direct
// replies go only to the socket that sent the command. Every command of
// the published reference is answered (filesystem over an in-memory tree,
// memory, models, git, experiments, secrets, skills, channels, terminals),
// input starts a deterministic streaming turn that may ask for a Bash
// approval, and sync replays state. Dialect chooses the reference's reply
// names or the real device's v2 ones.
//
// Faults (Server.Inject) inject gaps, duplicates, unanswered, orphan and
// delayed replies and abrupt drops, deterministically from Server.Seed;
// Server.Faults reports each injected fault with the checker rule it must
// trigger, as ground truth for testing a checker.
package sim
