// Every method of the SDK against a real `wahooks serve` (sandbox engine), the error cases, and
// the product page's seed snippet word for word.
import assert from 'node:assert/strict';
import { before, test, after } from 'node:test';
import { WAHooks, WAHooksError } from 'wahooks';
import { WahooksServer } from './support/server.mjs';

const CHAT = '14155550123@c.us';
const UNKNOWN = '01890000-0000-7000-8000-000000000000';
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(16)]).toString('base64');
let server;
let client;

before(async () => {
  // Deliveries to the unreachable targets below stay pending for the whole file: the first retry
  // comes an hour after the failed first attempt.
  server = await new WahooksServer({ WAHOOKS_RETRY_SCHEDULE: '3600' }).start();
  client = new WAHooks({ apiKey: server.token, baseUrl: server.baseUrl });
});
after(() => server.close());

async function rejection(promise) {
  const error = await promise.then(() => assert.fail('resolved'), (e) => e);
  assert.ok(error instanceof WAHooksError, `${error}`);
  return error;
}

async function connected(name) {
  const connection = await client.createConnection(name ? { name } : undefined);
  await server.scan(connection.id);
  return connection;
}

test('connections: create, list, get, rename, QR, profile, restart, delete', async () => {
  const created = await client.createConnection();
  assert.ok(['pending', 'scan_qr'].includes(created.status), created.status);
  assert.equal(created.name, null);
  assert.equal((await client.getConnection(created.id)).id, created.id);
  assert.ok((await client.listConnections()).some((c) => c.id === created.id));

  const named = await client.createConnection({ name: 'shop' });
  assert.equal(named.name, 'shop');
  assert.equal((await client.renameConnection(named.id, 'store')).name, 'store');
  assert.equal((await client.renameConnection(named.id, null)).name, null);

  const qr = await client.getQR(created.id);
  assert.equal(qr.mimetype, 'image/png');
  assert.ok(Buffer.from(qr.value, 'base64').subarray(0, 4).equals(Buffer.from('89504e47', 'hex')));
  assert.match((await client.getQR(created.id, { format: 'raw' })).value, /^wahooks-sandbox:/);
  assert.equal(await client.getProfile(created.id), null);

  await server.scan(created.id);
  assert.deepEqual(await client.getQR(created.id), { connected: true });
  const profile = await client.getProfile(created.id);
  assert.match(profile.id, /@c\.us$/);
  assert.equal(typeof profile.pushName, 'string');
  assert.equal((await client.getConnection(created.id)).status, 'connected');

  assert.equal((await client.restartConnection(created.id)).status, 'scan_qr');
  const deleted = await client.deleteConnection(created.id);
  assert.equal(deleted.status, 'stopped');
  assert.ok(!(await client.listConnections()).some((c) => c.id === created.id));
});

test('getOrCreateScannableConnection reuses a connection waiting for a scan', async () => {
  const first = await client.getOrCreateScannableConnection();
  assert.deepEqual(Object.keys(first).sort(), ['id', 'qr', 'status']);
  assert.equal(typeof first.qr, 'string');
  const again = await client.getOrCreateScannableConnection({ virginOnly: true });
  assert.equal(typeof again.id, 'string');
  assert.ok((await client.listConnections()).some((c) => c.id === again.id));
});

test('messaging: text, reactions, receipts, typing, media, location, contact, edits', async () => {
  const { id } = await connected();
  const sent = await client.sendMessage(id, CHAT, 'Your order shipped', { skipPresence: true });
  assert.match(sent.id, /^true_14155550123@c\.us_/);
  assert.equal(typeof sent.timestamp, 'number');
  const reply = await client.sendMessage(id, CHAT, 'Tracking: 42', { skipPresence: true, replyTo: sent.id });
  assert.ok(reply.id);
  assert.deepEqual(await client.react(id, CHAT, sent.id, '👍'), { success: true });
  assert.deepEqual(await client.react(id, CHAT, sent.id, ''), { success: true });
  assert.deepEqual(await client.markRead(id, CHAT), { success: true });
  assert.deepEqual(await client.startTyping(id, CHAT), { success: true });
  assert.deepEqual(await client.stopTyping(id, CHAT), { success: true });

  const image = await client.sendImage(id, CHAT, { data: PNG, mimetype: 'image/png', caption: 'box', skipPresence: true });
  const document = await client.sendDocument(id, CHAT, { data: PNG, mimetype: 'application/pdf', filename: 'invoice.pdf', skipPresence: true });
  const video = await client.sendVideo(id, CHAT, { data: PNG, mimetype: 'video/mp4', caption: 'clip', skipPresence: true });
  const audio = await client.sendAudio(id, CHAT, { data: PNG, mimetype: 'audio/ogg', skipPresence: true });
  const location = await client.sendLocation(id, CHAT, 52.52, 13.405, 'Shop', 'Main St 1', { skipPresence: true });
  const contact = await client.sendContact(id, CHAT, 'Jane', '+14155550100', { skipPresence: true });
  for (const result of [image, document, video, audio, location, contact]) assert.match(result.id, /^true_/);

  const media = await client.downloadMedia(id, image.id, CHAT);
  assert.equal(media.mimetype, 'image/png');
  assert.deepEqual(Buffer.from(media.data), Buffer.from(PNG, 'base64'));
  const viaUrl = await fetch(client.getMediaUrl(id, image.id, CHAT), { headers: { Authorization: `Bearer ${server.token}` } });
  assert.equal(viaUrl.status, 200);

  const edited = await client.editMessage(id, sent.id, CHAT, 'Your order has shipped');
  assert.ok(edited);
  assert.equal((await client.getMessage(id, sent.id, CHAT)).body, 'Your order has shipped');
});

test('history: chats, message pages, contacts, profile pictures', async () => {
  const { id } = await connected();
  await server.inbound(id, 'one');
  await server.inbound(id, 'two');
  await client.sendMessage(id, CHAT, 'three', { skipPresence: true });
  await server.inbound(id, 'hi', '14155550777@c.us');

  const chats = await client.getChats(id);
  assert.deepEqual(chats.map((c) => c.id).sort(), ['14155550123@c.us', '14155550777@c.us']);
  assert.equal((await client.getChats(id, { limit: 1 })).length, 1);
  assert.equal((await client.getChats(id, { limit: 1, offset: 1 })).length, 1);

  const first = await client.getMessages(id, CHAT, { limit: 2 });
  assert.equal(first.messages.length, 2);
  assert.equal(typeof first.nextBefore, 'string');
  const rest = await client.getMessages(id, CHAT, { limit: 2, before: first.nextBefore });
  assert.equal(rest.nextBefore, null);
  const bodies = [...first.messages, ...rest.messages].map((m) => m.body);
  assert.deepEqual(bodies.sort(), ['one', 'three', 'two']);
  assert.equal(typeof rest.historyStartsAt, 'number');
  const one = first.messages[0];
  assert.equal((await client.getMessage(id, one.id, CHAT)).id, one.id);

  const contacts = await client.getContacts(id);
  assert.deepEqual(contacts.map((c) => c.jid), ['14155550123@c.us', '14155550777@c.us']);
  assert.deepEqual((await client.getContacts(id, { limit: 1, offset: 1 })).map((c) => c.jid), ['14155550777@c.us']);
  assert.deepEqual(await client.getProfilePicture(id, CHAT), { profilePictureUrl: null });
});

test('webhooks: create, list, update, test, logs, delete', async () => {
  const { id } = await client.createConnection();
  // Nothing listens here; the test delivery stays pending, which is all this test needs.
  const webhook = await client.createWebhook(id, 'http://127.0.0.1:9/hook');
  assert.deepEqual(webhook.events, ['*']);
  assert.match(webhook.signingSecret, /^[0-9a-f]{64}$/);
  assert.equal(webhook.sessionId, id);
  assert.equal(webhook.active, true);
  assert.equal(webhook.ordering, 'none');
  const only = await client.createWebhook(id, 'http://127.0.0.1:9/other', ['message', 'message.any'],
    { ordering: 'chat' });
  assert.deepEqual(only.events, ['message', 'message.any']);
  assert.equal(only.ordering, 'chat');
  assert.equal((await client.updateWebhook(only.id, { ordering: 'none' })).ordering, 'none');
  assert.deepEqual((await client.listWebhooks(id)).map((w) => w.id).sort(), [webhook.id, only.id].sort());

  const updated = await client.updateWebhook(webhook.id, { url: 'http://127.0.0.1:9/moved', active: false });
  assert.equal(updated.url, 'http://127.0.0.1:9/moved');
  assert.equal(updated.active, false);
  assert.deepEqual(updated.events, ['*']);
  await client.updateWebhook(webhook.id, { active: true });

  const tested = await client.testWebhook(webhook.id);
  assert.equal(tested.success, true);
  const logs = await client.getWebhookLogs(webhook.id);
  assert.equal(logs[0].id, tested.logId);
  assert.equal(logs[0].eventType, 'test');
  assert.equal(logs[0].webhookConfigId, webhook.id);
  assert.equal(logs[0].payload.event, 'test');
  assert.deepEqual(await client.getWebhookLogs(webhook.id, { status: 'delivered' }), []);

  assert.deepEqual(await client.deleteWebhook(only.id), { success: true });
  assert.deepEqual((await client.listWebhooks(id)).map((w) => w.id), [webhook.id]);
});

test('log pages follow X-Next-Before; redeliver and redeliverFailed', async () => {
  const { id } = await client.createConnection();
  const webhook = await client.createWebhook(id, 'http://127.0.0.1:9/hook', ['test']);
  const ids = [];
  for (let i = 0; i < 3; i += 1) ids.push((await client.testWebhook(webhook.id)).logId);
  const page = await client.getWebhookLogsPage(webhook.id, { limit: 2 });
  assert.deepEqual(page.logs.map((l) => l.id), [ids[2], ids[1]]);
  assert.equal(page.nextBefore, ids[1]);
  const last = await client.getWebhookLogsPage(webhook.id, { limit: 2, before: page.nextBefore });
  assert.deepEqual(last.logs.map((l) => l.id), [ids[0]]);
  assert.equal(last.nextBefore, null);
  assert.deepEqual(await client.redeliverFailed(webhook.id), { success: true, count: 0 });
  // A pending delivery is not redelivered by hand: it will be retried by itself.
  const pending = await rejection(client.redeliver(webhook.id, ids[0]));
  assert.equal(pending.statusCode, 409);
  const unknown = await rejection(client.redeliver(webhook.id, UNKNOWN));
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.message, 'Webhook log not found');
});

test('getWebhookLog, log filters and recover', async () => {
  const { id } = await client.createConnection();
  const webhook = await client.createWebhook(id, 'http://127.0.0.1:9/hook', ['test']);
  const { logId } = await client.testWebhook(webhook.id);
  const log = await client.getWebhookLog(webhook.id, logId);
  assert.equal(log.id, logId);
  assert.equal(log.eventType, 'test');
  assert.equal(log.status, 'pending'); // its retries are seconds apart: not settled yet
  assert.match(log.nextAttemptAt, /^\d{4}-\d\d-\d\dT/);
  const since = new Date(Date.now() - 3600_000).toISOString();
  const later = new Date(Date.now() + 3600_000).toISOString();
  assert.deepEqual((await client.getWebhookLogs(webhook.id, { eventType: 'test', since })).map((l) => l.id), [logId]);
  assert.deepEqual(await client.getWebhookLogs(webhook.id, { since: later }), []);
  assert.deepEqual(await client.getWebhookLogs(webhook.id, { statusClass: '2xx' }), []);
  // Still pending (its retries are minutes away): nothing dead-lettered to recover.
  assert.deepEqual(await client.recover(webhook.id, since), { success: true, count: 0 });
  const backwards = await rejection(client.recover(webhook.id, later, since));
  assert.equal(backwards.statusCode, 400);
  assert.match(backwards.message, /since must be earlier than until/);
  const unknown = await rejection(client.getWebhookLog(webhook.id, UNKNOWN));
  assert.equal(unknown.statusCode, 404);
});

test('tokens: create, use, list, revoke; a revoked token is a 401', async () => {
  const created = await client.createToken('ci');
  assert.match(created.token, /^wh_/);
  assert.equal(created.name, 'ci');
  const listed = await client.listTokens();
  const entry = listed.find((t) => t.id === created.id);
  assert.equal(entry.tokenPrefix, created.tokenPrefix);
  assert.equal(entry.active, true);
  const second = new WAHooks({ apiKey: created.token, baseUrl: server.baseUrl });
  assert.equal((await second.getMe()).name, (await client.getMe()).name);
  assert.deepEqual(await client.revokeToken(created.id), { success: true });
  assert.ok(!(await client.listTokens()).some((t) => t.id === created.id));
  const refused = await rejection(second.listConnections());
  assert.equal(refused.statusCode, 401);
});

test('health and the account', async () => {
  assert.deepEqual(await new WAHooks({ apiKey: '', baseUrl: server.baseUrl }).health(), { status: 'ok' });
  const me = await client.getMe();
  assert.deepEqual(Object.keys(me).sort(), ['email', 'id', 'isAdmin', 'name']);
  assert.equal(me.isAdmin, true);
});

test('errors: 401 for a bad token, 404 for an unknown id, 400 with the message', async () => {
  const bad = new WAHooks({ apiKey: 'wh_invalid', baseUrl: server.baseUrl });
  const unauthorized = await rejection(bad.listConnections());
  assert.equal(unauthorized.statusCode, 401);
  assert.equal(typeof unauthorized.message, 'string');
  assert.equal(unauthorized.body.statusCode, 401);
  assert.equal(unauthorized.message, unauthorized.body.message);

  const missing = await rejection(client.getConnection(UNKNOWN));
  assert.equal(missing.statusCode, 404);
  const noWebhook = await rejection(client.deleteWebhook(UNKNOWN));
  assert.equal(noWebhook.statusCode, 404);
  assert.equal(noWebhook.message, 'Webhook config not found');

  const { id } = await client.createConnection();
  const badUrl = await rejection(client.createWebhook(id, 'not a url'));
  assert.equal(badUrl.statusCode, 400);
  // The original's message first, then what exactly is wrong; the error joins a list with '; '.
  const reasons = ['url must be a URL address', 'webhook URL must not contain spaces or control characters'];
  assert.deepEqual(badUrl.body.message, reasons);
  assert.equal(badUrl.message, reasons.join('; '));
  const badEvents = await rejection(client.createWebhook(id, 'http://127.0.0.1:9/h', []));
  assert.equal(badEvents.statusCode, 400);
  const badOrdering = await rejection(
    client.createWebhook(id, 'http://127.0.0.1:9/h', ['*'], { ordering: 'fifo' }));
  assert.equal(badOrdering.statusCode, 400);
  assert.equal(badOrdering.message, "ordering must be one of: none, chat (got 'fifo')");
  const { id: live } = await connected();
  const badChat = await rejection(client.sendMessage(live, '', 'x', { skipPresence: true }));
  assert.equal(badChat.statusCode, 400);
  assert.match(badChat.message, /chatId/);
});

test("the product page's seed snippet, word for word", async () => {
  const { id: connectionId } = await client.createConnection();
  const printed = [];
  const console = { log: (...values) => printed.push(values.join(' ')) };
  // --- the product page ---
  const webhook = await client.createWebhook(connectionId, 'https://your-server.com/webhook',
    ['message', 'message.any']); // or ['*'] for all events
  console.log(webhook.signingSecret);
  // ---
  const webhookId = webhook.id;
  // --- the product page ---
  await client.testWebhook(webhookId);
  // ---
  assert.deepEqual(printed, [webhook.signingSecret]);
  assert.match(printed[0], /^[0-9a-f]{64}$/);
  assert.deepEqual(webhook.events, ['message', 'message.any']);
  const [log] = await client.getWebhookLogs(webhookId);
  assert.equal(log.eventType, 'test');
  assert.equal(log.status, 'pending'); // its retries are seconds apart: not settled yet
  assert.match(log.nextAttemptAt, /^\d{4}-\d\d-\d\dT/);
});
