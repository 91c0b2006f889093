#!/usr/bin/python3
"""A WebSocket client and server that are not wsproxy's code (Debian's
python3-websockets), for the real-capture fixture. Both negotiate
permessage-deflate with context takeover (the library's default).

Usage: realpeers.py EXPECTED.jsonl
Starts the server on 127.0.0.1:0, prints "port N" on stdout, waits for a
line on stdin (the capture is running), runs the client session, and
writes every frame each peer sent, as JSON lines
{"from": "client"|"server", "op": "text"|"binary"|"ping"|"pong"|"close",
"text": ... for text messages, "data": base64 for the others}, to EXPECTED.jsonl.
"""
import asyncio
import base64
import json
import struct
import sys

import websockets

sent = []


def log(side, op, payload):
    if isinstance(payload, str):
        sent.append({"from": side, "op": op, "text": payload})
        return
    sent.append({"from": side, "op": op, "data": base64.b64encode(payload).decode()})


async def handler(ws):
    n = 0
    async for m in ws:
        n += 1
        reply = json.dumps({"type": "stream_delta", "event_seq": n,
                            "delta": {"text": "got %d %s" % (len(m), "characters" if isinstance(m, str) else "bytes")}},
                           separators=(",", ":"))
        log("server", "text", reply)
        await ws.send(reply)
    # The client closed with 1000 "done": the library echoes it.
    log("server", "close", struct.pack("!H", 1000) + b"done")


async def main():
    out = sys.argv[1]
    server = await websockets.serve(handler, "127.0.0.1", 0, ping_interval=None)
    port = server.sockets[0].getsockname()[1]
    print("port", port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    uri = "ws://127.0.0.1:%d/v1/environments/conn-py/status/ws?agentId=agent-py&conversationId=default&channel=control&token=py-secret" % port
    async with websockets.connect(uri, ping_interval=None, max_size=2**22) as ws:
        msgs = [json.dumps({"type": "sync", "recover_approvals": True, "request_id": "py-1"}, separators=(",", ":"))]
        for i in range(8):
            msgs.append(json.dumps({"type": "input", "request_id": "py-%d" % (i + 2),
                                    "text": "please run the tests again, number %d" % i}, separators=(",", ":")))
        # A large message: several segments on the wire.
        msgs.append(json.dumps({"type": "input", "request_id": "py-big",
                                "text": " ".join("word%d" % (i % 500) for i in range(3000))}, separators=(",", ":")))
        for m in msgs:
            log("client", "text", m)
            await ws.send(m)
            await ws.recv()
        log("client", "binary", bytes(range(256)))
        await ws.send(bytes(range(256)))
        await ws.recv()
        log("client", "ping", b"hb-1")
        pong = await ws.ping(b"hb-1")
        await pong
        log("server", "pong", b"hb-1")
        log("client", "close", struct.pack("!H", 1000) + b"done")
        await ws.close(1000, "done")
    server.close()
    await server.wait_closed()
    with open(out, "w") as f:
        for s in sent:
            f.write(json.dumps(s) + "\n")


asyncio.run(main())
