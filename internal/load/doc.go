// Package load measures the proxy as a user runs it: client, proxy and
// upstream as separate processes on loopback.
//
// It has four parts, each behind a wsload subcommand:
//
//   - Server, an upstream that speaks enough of the status socket: it
//     streams 200-byte server events with a transport seq as fast as the
//     client's acks allow (a window of unacked seqs), answers pings with
//     pongs and commands with their replies;
//   - Relay, a plain TCP relay (two io.Copy per connection): the floor for
//     any proxy hop;
//   - Drive, the client: connections that ack every seq and count events,
//     time request → reply round trips, or sit idle and ping;
//   - Bench and BenchIdle, the orchestrators: they start the server, the
//     relay and the proxy binary as child processes, drive the direct, the
//     relayed and the proxied paths side by side, sample the proxy's RSS
//     from /proc, and count the records in the proxy's trace against the
//     events the clients received.
//
// Everything is bounded in count and time and refuses addresses that are
// not loopback.
package load
