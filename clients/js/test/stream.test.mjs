// listen(): the live event stream against a real `wahooks serve`, with the runtime's global
// WebSocket (this suite runs Node.js with --experimental-websocket) and with the `ws` package.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NO_WEBSOCKET_MESSAGE, WAHooks, WAHooksError } from 'wahooks';
import WebSocket from 'ws';
import { firstMessage, nextMessage, opened } from './support/live.mjs';
import { WahooksServer } from './support/server.mjs';

let server;
let client;
let connectionId;

before(async () => {
  server = await new WahooksServer().start();
  client = new WAHooks({ apiKey: server.token, baseUrl: server.baseUrl });
  connectionId = (await client.createConnection()).id;
  await server.scan(connectionId);
});
after(() => server.close());

/** A stream that is closed when the test ends, whatever happens in it. */
function listen(t, from, options) {
  const stream = from.listen(options);
  t.after(() => stream.close());
  return stream;
}

async function receivesASandboxMessage(stream, keys = ['connectionId', 'event', 'payload', 'timestamp']) {
  await opened(stream);
  const probe = await firstMessage(stream, server, connectionId);
  assert.deepEqual(Object.keys(probe).sort(), keys);
  assert.equal(probe.connectionId, connectionId);
  assert.equal(probe.payload.from, '14155550123@c.us');
  assert.ok(!Number.isNaN(Date.parse(probe.timestamp)));
  const next = nextMessage(stream, 'Is my order shipped?');
  await server.inbound(connectionId, 'Is my order shipped?');
  const event = await next;
  assert.equal(event.payload.fromMe, false);
  return event;
}

function closedStream(stream) {
  return new Promise((done) => {
    stream.onclose = done;
    stream.close();
  });
}

test('the global WebSocket receives a sandbox message', { skip: typeof globalThis.WebSocket !== 'function' }, async (t) => {
  const stream = listen(t, client);
  await receivesASandboxMessage(stream);
  await closedStream(stream);
  assert.equal(stream.closed, true);
});

test('the ws package, given to listen() or to the client, receives a sandbox message', async (t) => {
  const stream = listen(t, client, { webSocket: WebSocket });
  await receivesASandboxMessage(stream);
  await closedStream(stream);
  const configured = new WAHooks({ apiKey: server.token, baseUrl: server.baseUrl, webSocket: WebSocket });
  const other = listen(t, configured);
  await receivesASandboxMessage(other);
  await closedStream(other);
});

test('envelope: true adds the webhook body to each frame', async (t) => {
  const stream = listen(t, client, { webSocket: WebSocket, envelope: true });
  const event = await receivesASandboxMessage(stream, ['connectionId', 'envelope', 'event', 'payload', 'timestamp']);
  assert.equal(event.envelope.event, 'message');
  assert.equal(event.envelope.payload.body, 'Is my order shipped?');
  assert.match(event.envelope.id, /^evt_/);
  await closedStream(stream);
});

test('a refused token stops the stream with a WAHooksError 401', async (t) => {
  const bad = new WAHooks({ apiKey: 'wh_' + '1'.repeat(48), baseUrl: server.baseUrl });
  const stream = listen(t, bad, { webSocket: WebSocket, reconnectDelayMs: 10 });
  const errors = [];
  stream.onerror = (error) => errors.push(error);
  await new Promise((done) => (stream.onclose = done));
  assert.equal(stream.closed, true);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof WAHooksError);
  assert.equal(errors[0].statusCode, 401);
  assert.equal(errors[0].message, 'Invalid token');
  assert.deepEqual(errors[0].body, { code: 4003, reason: 'Invalid token' });
});

test('without a global WebSocket, listen() says what to install', () => {
  const global = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
  delete globalThis.WebSocket;
  try {
    assert.throws(() => client.listen(), (error) => error.message === NO_WEBSOCKET_MESSAGE);
    assert.match(NO_WEBSOCKET_MESSAGE, /npm install ws/);
    assert.match(NO_WEBSOCKET_MESSAGE, /listen\(\{ webSocket: WebSocket \}\)/);
  } finally {
    if (global) Object.defineProperty(globalThis, 'WebSocket', global);
  }
});
