// Package trace defines the one record type of wsproxy and its line
// format (trace format v1, specified in traces/FORMAT.md).
//
// A trace is JSON Lines: a header record, then open, frame, close, error
// and http records, each naming its connection. Sources (the proxy, trace
// files, packet captures, the simulator) produce *Record values; sinks
// (the recorder, the checker, the inspector, the replayer) consume them
// through the Source and Sink interfaces.
//
// AppendLine and ParseLine convert between records and lines; payloads
// round-trip byte-exact whatever they hold (JSON objects are embedded
// under "msg", other text under "text", other bytes as base64 "data").
// Package recorder reads and writes whole, compressed files.
package trace
