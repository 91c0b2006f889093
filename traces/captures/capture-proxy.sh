#!/bin/bash
# Captures the proxy-session fixture: the reference client talks to the
# simulator through the recording proxy while tcpdump records the
# client-proxy leg on loopback (needs root and Debian's tcpdump):
#
#   bash traces/captures/capture-proxy.sh traces/captures
#
# writes proxy-session.pcap (the capture) and proxy-session.jsonl.zst (the
# proxy's own trace of the same session); a test checks that importing the
# capture gives the proxy's frames.
set -euo pipefail
dir=$(cd "${1:-traces/captures}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
(cd "$root" && go build -o "$tmp/wsproxy" ./cmd/wsproxy)
wait_for() { for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.1; done; echo "timeout waiting for $2 in $1" >&2; exit 1; }
"$tmp/wsproxy" sim -listen 127.0.0.1:0 >"$tmp/sim.out" 2>&1 &
sim=$!
wait_for "$tmp/sim.out" 'simulated environment'
simurl=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/sim.out" | head -1)
"$tmp/wsproxy" -listen 127.0.0.1:0 -upstream "ws://${simurl#http://}" -out "$tmp/proxy.jsonl.zst" >"$tmp/proxy.out" 2>&1 &
proxy=$!
wait_for "$tmp/proxy.out" 'listening on'
port=$(grep -o 'listening on ws://127.0.0.1:[0-9]*' "$tmp/proxy.out" | grep -o '[0-9]*$')
tcpdump -i lo -s 0 --immediate-mode -U -w "$tmp/cap.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
dump=$!
wait_for "$tmp/tcpdump.err" 'listening on'
sleep 1 # tcpdump says it listens a little before it captures
"$tmp/wsproxy" client -compress -script "$root/traces/scripts/reconnect-sync.json" "http://127.0.0.1:$port"
sleep 1.5 # let tcpdump write the last packets before it is stopped
kill -INT $proxy; wait $proxy || true
kill -INT $dump; wait $dump || true
kill -INT $sim; wait $sim || true
cat "$tmp/tcpdump.err" >&2
cp "$tmp/cap.pcap" "$dir/proxy-session.pcap"
cp "$tmp/proxy.jsonl.zst" "$dir/proxy-session.jsonl.zst"
ls -l "$dir/proxy-session.pcap" "$dir/proxy-session.jsonl.zst"
