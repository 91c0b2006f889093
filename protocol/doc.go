// Package protocol is the one model of the Letta Code Remote Client
// protocol that every part of wsproxy uses: a fast envelope extractor
// (Parse) and a data-driven table of message types (Table, DefaultModel)
// saying which commands get which replies, which start streams, which
// events carry the device envelope, and which channel each travels on.
//
// Parse walks only the top level of a JSON object (and runtime, payload and
// loop_status), so it is cheap enough to run on every frame a proxy
// relays. An unknown type is classified as RoleUnknown, never an error.
package protocol
