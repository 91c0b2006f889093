// A WebSocket client and server that are not wsproxy's code (the npm
// package ws), for the real-capture fixture: the same session as
// realpeers.py. Both enable permessage-deflate with context takeover, and
// threshold 0 so that every message is compressed.
//
// Usage: NODE_PATH=DIR/node_modules node realpeers.js EXPECTED.jsonl
// (DIR holds "npm install ws"). Prints "port N", waits for a line on
// stdin, runs the session, writes what each peer sent as JSON lines.
'use strict';
const fs = require('fs');
const WebSocket = require('ws');

const sent = [];
function log(from, op, payload) {
  if (typeof payload === 'string') sent.push({from, op, text: payload});
  else sent.push({from, op, data: Buffer.from(payload).toString('base64')});
}
const deflate = {threshold: 0};

const wss = new WebSocket.Server({host: '127.0.0.1', port: 0, perMessageDeflate: deflate}, () => {
  console.log('port', wss.address().port);
  process.stdin.once('data', () => run(wss.address().port));
});
wss.on('connection', (ws) => {
  let n = 0;
  ws.on('message', (m, isBinary) => {
    n++;
    const what = isBinary ? m.length + ' bytes' : Buffer.byteLength(m.toString()) + ' characters';
    const reply = JSON.stringify({type: 'stream_delta', event_seq: n, delta: {text: 'got ' + what}});
    log('server', 'text', reply);
    ws.send(reply);
  });
  ws.on('close', (code, reason) => {
    // ws echoes the client's close frame.
    const p = Buffer.alloc(2 + reason.length);
    p.writeUInt16BE(code, 0);
    reason.copy(p, 2);
    log('server', 'close', p);
  });
});

function run(port) {
  const url = `ws://127.0.0.1:${port}/v1/environments/conn-js/status/ws?agentId=agent-js&conversationId=default&channel=stream&token=js-secret`;
  const ws = new WebSocket(url, {perMessageDeflate: deflate});
  const msgs = [JSON.stringify({type: 'sync', recover_approvals: true, request_id: 'js-1'})];
  for (let i = 0; i < 8; i++) msgs.push(JSON.stringify({type: 'input', request_id: 'js-' + (i + 2), text: 'please run the tests again, number ' + i}));
  const words = [];
  for (let i = 0; i < 3000; i++) words.push('word' + (i % 500));
  msgs.push(JSON.stringify({type: 'input', request_id: 'js-big', text: words.join(' ')}));
  const bin = Buffer.from(Array.from({length: 256}, (_, i) => i));
  let i = 0;
  const next = () => {
    if (i < msgs.length) {
      log('client', 'text', msgs[i]);
      ws.send(msgs[i++]);
    } else if (i === msgs.length) {
      i++;
      log('client', 'binary', bin);
      ws.send(bin);
    } else {
      ws.removeListener('message', next);
      log('client', 'ping', Buffer.from('hb-1'));
      ws.ping('hb-1');
    }
  };
  ws.on('open', next);
  ws.on('message', next);
  ws.on('pong', (p) => {
    log('server', 'pong', p);
    const c = Buffer.from([0x03, 0xe8, ...Buffer.from('done')]);
    log('client', 'close', c);
    ws.close(1000, 'done');
  });
  ws.on('close', () => {
    wss.close(() => {
      fs.writeFileSync(process.argv[2], sent.map((s) => JSON.stringify(s)).join('\n') + '\n');
      process.exit(0);
    });
  });
}
