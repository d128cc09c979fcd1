// The live stream reconnects by itself when the server goes away and comes back: a real
// `wahooks serve` is stopped and started again on the same port and database.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WAHooks } from 'wahooks';
import WebSocket from 'ws';
import { firstMessage, nextMessage } from './support/live.mjs';
import { WahooksServer } from './support/server.mjs';

let server;

before(async () => {
  server = await new WahooksServer().start();
});
after(() => server.close());

test('listen() reconnects after the server restarts and receives events again', async (t) => {
  const client = new WAHooks({ apiKey: server.token, baseUrl: server.baseUrl, webSocket: WebSocket });
  const { id } = await client.createConnection();
  await server.scan(id);

  const stream = client.listen({ reconnectDelayMs: 100 });
  t.after(() => stream.close());
  let opens = 0;
  const errors = [];
  stream.onerror = (error) => errors.push(error);
  let reopened;
  const firstOpen = new Promise((done) => {
    stream.onopen = () => {
      opens += 1;
      if (opens === 1) done();
      else reopened?.();
    };
  });
  await firstOpen;
  await firstMessage(stream, server, id);

  const dropped = new Promise((done) => (stream.onclose = done));
  await server.stop();
  await dropped;
  const back = new Promise((done) => (reopened = done));
  await server.start();
  await back;
  assert.ok(opens >= 2);
  assert.equal(stream.closed, false);

  // The connection is still linked after the restart; the new socket gets its events.
  assert.equal((await client.getConnection(id)).status, 'connected');
  await firstMessage(stream, server, id);
  const next = nextMessage(stream, 'back again');
  await server.inbound(id, 'back again');
  assert.equal((await next).connectionId, id);
  assert.ok(errors.every((error) => error.message.startsWith('WebSocket error')), String(errors));
});
