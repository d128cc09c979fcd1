// Deliveries from a real `wahooks serve` to the README's Express receiver, which keeps the raw
// body and verifies each one with verifySignature.
import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { InvalidSignature, WAHooks, computeSignature, standardWebhooksSecret, verifySignature } from 'wahooks';
import { startReceiver } from './support/receiver.mjs';
import { WahooksServer } from './support/server.mjs';

let server;
let client;

before(async () => {
  server = await new WahooksServer().start();
  client = new WAHooks({ apiKey: server.token, baseUrl: server.baseUrl });
});
after(() => server.close());

/** Poll until `check` answers something truthy: the server records a delivery a moment after
 * the receiver has answered it. */
async function eventually(check) {
  for (;;) {
    const value = await check();
    if (value) return value;
    await delay(50);
  }
}

test('sandbox events and the test event reach the Express receiver, verified', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const { id } = await client.createConnection();
  await server.scan(id);
  const webhook = await client.createWebhook(id, receiver.url, ['message', 'message.any']);
  receiver.secret = webhook.signingSecret;

  await server.inbound(id, 'Hi! Is my order #4821 shipped yet?');
  const received = [await receiver.next(), await receiver.next()];
  assert.ok(received.every((delivery) => delivery.verified));
  const byType = Object.fromEntries(received.map((delivery) => [delivery.event.event, delivery]));
  assert.deepEqual(Object.keys(byType).sort(), ['message', 'message.any']);
  const message = byType.message.event;
  assert.equal(message.payload.body, 'Hi! Is my order #4821 shipped yet?');
  assert.equal(message.payload.from, '14155550123@c.us');
  assert.equal(message.payload.fromMe, false);
  assert.match(message.id, /^evt_/);
  assert.equal(byType.message.headers['x-wahooks-event'], 'message');

  await client.testWebhook(webhook.id);
  const tested = await receiver.next();
  assert.equal(tested.verified, true);
  assert.deepEqual(Object.keys(tested.event).sort(), ['event', 'payload', 'session']);
  assert.equal(tested.event.event, 'test');
  assert.equal(tested.event.payload.message, 'This is a test webhook event from WAHooks');

  const logs = await eventually(async () => {
    const found = await client.getWebhookLogs(webhook.id, { status: 'delivered' });
    return found.length === 3 && found;
  });
  assert.ok(logs.every((log) => log.attempts === 1 && log.attemptLog[0].statusCode === 200));

  // A redelivery is the same event, signed again; the receiver verifies it with either secret
  // of a rotation.
  receiver.secret = ['0'.repeat(64), webhook.signingSecret];
  const original = logs.find((log) => log.eventType === 'message');
  await client.redeliver(webhook.id, original.id);
  const again = await receiver.next();
  assert.equal(again.verified, true);
  assert.equal(again.event.id, message.id);
});

test('a receiver with the wrong secret refuses the delivery with 401', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const { id } = await client.createConnection();
  const webhook = await client.createWebhook(id, receiver.url, ['test']);
  receiver.secret = 'f'.repeat(64);
  const { logId } = await client.testWebhook(webhook.id);
  const refused = await receiver.next();
  assert.equal(refused.verified, false);
  assert.equal(refused.error.name, 'InvalidSignature');
  const log = await eventually(async () => {
    const [found] = await client.getWebhookLogs(webhook.id);
    return found.attemptLog.length > 0 && found;
  });
  assert.equal(log.id, logId);
  assert.equal(log.lastStatusCode, 401);
});

test('rotateSecret: during the overlap a receiver with either secret or both verifies, in both schemes', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const { id } = await client.createConnection();
  await server.scan(id);
  const webhook = await client.createWebhook(id, receiver.url, ['message']);
  const old = webhook.signingSecret;

  const rotated = await client.rotateSecret(webhook.id, { overlapSeconds: 3600 });
  assert.deepEqual(Object.keys(rotated), ['success', 'webhookId', 'signingSecret', 'previousSecretExpiresAt']);
  assert.notEqual(rotated.signingSecret, old);
  assert.ok(Date.parse(rotated.previousSecretExpiresAt) > Date.now() + 3500 * 1000);

  receiver.secret = [old, rotated.signingSecret];
  await server.inbound(id, 'During the overlap');
  const delivery = await receiver.next();
  assert.equal(delivery.verified, true);
  // X-WAHooks-Signature is still the old secret's; webhook-signature carries both.
  assert.equal(
    delivery.headers['x-wahooks-signature'],
    computeSignature(old, delivery.headers['x-wahooks-timestamp'], delivery.raw),
  );
  assert.equal(delivery.headers['webhook-id'], delivery.headers['x-wahooks-delivery']);
  assert.equal(delivery.headers['webhook-signature'].split(' ').length, 2);
  for (const secrets of [old, rotated.signingSecret, [rotated.signingSecret]]) {
    verifySignature(delivery.raw, delivery.headers, secrets);
  }
  assert.throws(() => verifySignature(delivery.raw, delivery.headers, 'f'.repeat(64)), InvalidSignature);
  assert.match(standardWebhooksSecret(old), /^whsec_[A-Za-z0-9+/]+=*$/);
  assert.equal(Buffer.from(standardWebhooksSecret(old).slice(6), 'base64').toString('utf8'), old);
});

test('a 410 disables the webhook, its events are held, and enabling it replays them', async (t) => {
  let status = 410;
  const bodies = [];
  const gone = http.createServer((req, res) => {
    let data = '';
    req.on('data', (chunk) => (data += chunk));
    req.on('end', () => {
      bodies.push(JSON.parse(data).payload.body);
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise((done) => gone.listen(0, '127.0.0.1', done));
  t.after(() => new Promise((done) => {
    gone.closeAllConnections();
    gone.close(done);
  }));
  const { id } = await client.createConnection();
  await server.scan(id);
  const webhook = await client.createWebhook(id, `http://127.0.0.1:${gone.address().port}/webhook`, ['message']);

  await server.inbound(id, 'first');
  const health = await eventually(async () => {
    const found = await client.getWebhookHealth(webhook.id);
    return found.disabledReason === 'gone' && found;
  });
  assert.equal(health.active, false);
  await server.inbound(id, 'second');
  const held = await client.getWebhookLogs(webhook.id, { status: 'held' });
  assert.deepEqual(held.map((log) => log.payload.payload.body), ['second', 'first']);
  const [listed] = await client.listWebhooks(id);
  assert.equal(listed.active, false);
  assert.equal(listed.disabledReason, 'gone');

  status = 200;
  const enabled = await client.updateWebhook(webhook.id, { active: true });
  assert.equal(enabled.active, true);
  assert.equal(enabled.disabledReason, null);
  await eventually(async () => bodies.length === 3 && (await client.getWebhookHealth(webhook.id)).held === 0);
  assert.equal(bodies[0], 'first');
  assert.deepEqual(bodies.slice(1).sort(), ['first', 'second']);
});
