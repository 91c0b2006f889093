#!/bin/bash
# Captures the real-peer fixtures: a client and server that are not
# wsproxy's code, on loopback, recorded by tcpdump (needs root and Debian's
# tcpdump; python3-websockets for PEERS=python, node and "npm install ws" in
# a directory outside the repository, given as WS_DIR, for PEERS=node):
#
#   bash traces/captures/capture-real.sh traces/captures
#   IFACE=any bash traces/captures/capture-real.sh traces/captures
#   PEERS=node WS_DIR=/tmp/wsnode bash traces/captures/capture-real.sh traces/captures
#
# writes real-PEERS.pcap (tcpdump -i lo: Ethernet) or, with IFACE=any,
# real-PEERS-any.pcap (Linux cooked v2), and real-PEERS.expected.jsonl:
# what each peer sent, logged by the peers themselves (the session is the
# same every time).
set -euo pipefail
dir=${1:-traces/captures}
iface=${IFACE:-lo}
peers=${PEERS:-python}
name=real-$peers
[ "$iface" = lo ] || name=real-$peers-$iface
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/go"
case $peers in
python) /usr/bin/python3 "$here/realpeers.py" "$dir/real-python.expected.jsonl" <"$tmp/go" >"$tmp/out" & ;;
node) NODE_PATH="$WS_DIR/node_modules" node "$here/realpeers.js" "$dir/real-node.expected.jsonl" <"$tmp/go" >"$tmp/out" & ;;
*) echo "PEERS is python or node" >&2; exit 2 ;;
esac
peerpid=$!
exec 3>"$tmp/go"
for _ in $(seq 100); do grep -q '^port' "$tmp/out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/^port/ {print $2}' "$tmp/out")
echo "peers on port $port" >&2
tcpdump -i "$iface" -s 0 --immediate-mode -U -w "$dir/$name.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
dump=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
sleep 1 # tcpdump says it listens a little before it captures
echo go >&3
wait $peerpid
sleep 1.5 # let tcpdump write the last packets before it is stopped
kill -INT $dump
wait $dump || true
cat "$tmp/tcpdump.err" >&2
chmod 644 "$dir/$name.pcap"
ls -l "$dir/$name.pcap" "$dir/real-$peers.expected.jsonl"
