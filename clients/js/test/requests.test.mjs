// What each method sends, byte for byte, to a real HTTP server on 127.0.0.1 that records every
// request and answers a fixed JSON: the routes, query strings and bodies of the official
// @wahooks/sdk 0.7.0 (an option left undefined is left out of the body), and those of the
// wahooks extras.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { VERSION, WAHooks, WAHooksError } from 'wahooks';

const requests = [];
let answer = { status: 200, body: '{"ok":true}', headers: {} };
let client;
let baseUrl;
let server;

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, body, headers: req.headers });
      res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  baseUrl = `http://127.0.0.1:${server.address().port}/`;
  client = new WAHooks({ apiKey: 'wh_test', baseUrl });
});

after(() => {
  server.closeAllConnections();
  server.close();
});

async function sent(call) {
  requests.length = 0;
  await call();
  assert.equal(requests.length, 1);
  const [{ method, url, body }] = requests;
  return [method, url, body === '' ? undefined : JSON.parse(body)];
}

const C = 'conn-1';
const CHAT = '14155550123@c.us';

test('the official 0.7.0 methods send the original requests', async () => {
  const img = { url: 'https://x.example/a.jpg', caption: 'box' };
  const cases = [
    [() => client.listConnections(), ['GET', '/api/connections', undefined]],
    [() => client.createConnection(), ['POST', '/api/connections', undefined]],
    [() => client.getOrCreateScannableConnection(), ['POST', '/api/connections/get-or-create', undefined]],
    [() => client.getConnection(C), ['GET', `/api/connections/${C}`, undefined]],
    [() => client.deleteConnection(C), ['DELETE', `/api/connections/${C}`, undefined]],
    [() => client.restartConnection(C), ['POST', `/api/connections/${C}/restart`, undefined]],
    [() => client.getQR(C), ['GET', `/api/connections/${C}/qr`, undefined]],
    [() => client.getChats(C), ['GET', `/api/connections/${C}/chats`, undefined]],
    [() => client.getProfile(C), ['GET', `/api/connections/${C}/me`, undefined]],
    [() => client.sendMessage(C, CHAT, 'hi'), ['POST', `/api/connections/${C}/send`, { chatId: CHAT, text: 'hi' }]],
    [
      () => client.sendMessage(C, CHAT, 'hi', { skipPresence: true, replyTo: undefined }),
      ['POST', `/api/connections/${C}/send`, { chatId: CHAT, text: 'hi', skipPresence: true }],
    ],
    [
      () => client.sendMessage(C, CHAT, 'hi', { replyTo: 'm1' }),
      ['POST', `/api/connections/${C}/send`, { chatId: CHAT, text: 'hi', replyTo: 'm1' }],
    ],
    [
      () => client.react(C, CHAT, 'm1', ''),
      ['POST', `/api/connections/${C}/react`, { chatId: CHAT, messageId: 'm1', reaction: '' }],
    ],
    [() => client.markRead(C, CHAT), ['POST', `/api/connections/${C}/mark-read`, { chatId: CHAT }]],
    [() => client.startTyping(C, CHAT), ['POST', `/api/connections/${C}/typing`, { chatId: CHAT }]],
    [() => client.stopTyping(C, CHAT), ['POST', `/api/connections/${C}/typing/stop`, { chatId: CHAT }]],
    [() => client.sendImage(C, CHAT, img), ['POST', `/api/connections/${C}/send-image`, { chatId: CHAT, ...img }]],
    [
      () => client.sendDocument(C, CHAT, { data: 'AAAA', mimetype: 'application/pdf', filename: 'a.pdf' }),
      ['POST', `/api/connections/${C}/send-document`, { chatId: CHAT, data: 'AAAA', mimetype: 'application/pdf', filename: 'a.pdf' }],
    ],
    [() => client.sendVideo(C, CHAT, img), ['POST', `/api/connections/${C}/send-video`, { chatId: CHAT, ...img }]],
    [
      () => client.sendAudio(C, CHAT, { url: 'https://x.example/a.ogg', skipPresence: false }),
      ['POST', `/api/connections/${C}/send-audio`, { chatId: CHAT, url: 'https://x.example/a.ogg', skipPresence: false }],
    ],
    [
      () => client.sendLocation(C, CHAT, 52.52, 13.405),
      ['POST', `/api/connections/${C}/send-location`, { chatId: CHAT, latitude: 52.52, longitude: 13.405 }],
    ],
    [
      () => client.sendLocation(C, CHAT, 52.52, 13.405, 'Shop', undefined, { skipPresence: true }),
      ['POST', `/api/connections/${C}/send-location`, { chatId: CHAT, latitude: 52.52, longitude: 13.405, name: 'Shop', skipPresence: true }],
    ],
    [
      () => client.sendContact(C, CHAT, 'Jane', '+14155550100'),
      ['POST', `/api/connections/${C}/send-contact`, { chatId: CHAT, contactName: 'Jane', contactPhone: '+14155550100' }],
    ],
    [() => client.listWebhooks(C), ['GET', `/api/connections/${C}/webhooks`, undefined]],
    [
      () => client.createWebhook(C, 'https://r.example/h'),
      ['POST', `/api/connections/${C}/webhooks`, { url: 'https://r.example/h', events: ['*'] }],
    ],
    [
      () => client.createWebhook(C, 'https://r.example/h', ['message']),
      ['POST', `/api/connections/${C}/webhooks`, { url: 'https://r.example/h', events: ['message'] }],
    ],
    [() => client.updateWebhook('w1', { active: false }), ['PUT', '/api/webhooks/w1', { active: false }]],
    [() => client.deleteWebhook('w1'), ['DELETE', '/api/webhooks/w1', undefined]],
    [() => client.getWebhookLogs('w1'), ['GET', '/api/webhooks/w1/logs', undefined]],
    [() => client.testWebhook('w1'), ['POST', '/api/webhooks/w1/test', undefined]],
    [() => client.listTokens(), ['GET', '/api/tokens', undefined]],
    [() => client.createToken('ci'), ['POST', '/api/tokens', { name: 'ci' }]],
    [() => client.revokeToken('t1'), ['DELETE', '/api/tokens/t1', undefined]],
  ];
  for (const [call, expected] of cases) {
    assert.deepEqual(await sent(call), expected, call.toString());
  }
});

test('the wahooks extras send their routes, dropping unset query parameters', async () => {
  const cases = [
    [() => client.health(), ['GET', '/api', undefined]],
    [() => client.getMe(), ['GET', '/api/me', undefined]],
    [() => client.createConnection({ name: 'shop' }), ['POST', '/api/connections', { name: 'shop' }]],
    [() => client.getOrCreateScannableConnection({ virginOnly: true }), ['POST', '/api/connections/get-or-create', { virgin_only: true }]],
    [() => client.renameConnection(C, null), ['PATCH', `/api/connections/${C}`, { name: null }]],
    [() => client.getQR(C, { format: 'raw' }), ['GET', `/api/connections/${C}/qr?format=raw`, undefined]],
    [() => client.getChats(C, { limit: 5, offset: undefined }), ['GET', `/api/connections/${C}/chats?limit=5`, undefined]],
    [
      () => client.getMessages(C, CHAT, { limit: 2, before: '1790000000_1' }),
      ['GET', `/api/connections/${C}/chats/${CHAT}/messages?limit=2&before=1790000000_1`, undefined],
    ],
    [() => client.getMessage(C, 'm/1', CHAT), ['GET', `/api/connections/${C}/messages/m%2F1?chatId=14155550123%40c.us`, undefined]],
    [
      () => client.editMessage(C, 'm1', CHAT, 'fixed'),
      ['PUT', `/api/connections/${C}/messages/m1`, { chatId: CHAT, text: 'fixed' }],
    ],
    [() => client.getContacts(C, { offset: 10 }), ['GET', `/api/connections/${C}/contacts?offset=10`, undefined]],
    [() => client.getProfilePicture(C, CHAT), ['GET', `/api/connections/${C}/contacts/${CHAT}/picture`, undefined]],
    [
      () => client.getWebhookLogs('w1', { status: 'failed', limit: 10, before: 'l1' }),
      ['GET', '/api/webhooks/w1/logs?status=failed&limit=10&before=l1', undefined],
    ],
    [() => client.redeliver('w1', 'l1'), ['POST', '/api/webhooks/w1/logs/l1/redeliver', undefined]],
    [() => client.redeliverFailed('w1'), ['POST', '/api/webhooks/w1/redeliver-failed', undefined]],
    [() => client.getWebhookHealth('w1'), ['GET', '/api/webhooks/w1/health', undefined]],
    [() => client.rotateSecret('w1'), ['POST', '/api/webhooks/w1/rotate-secret', {}]],
    [
      () => client.rotateSecret('w1', { overlapSeconds: 600 }),
      ['POST', '/api/webhooks/w1/rotate-secret', { overlapSeconds: 600 }],
    ],
  ];
  for (const [call, expected] of cases) {
    assert.deepEqual(await sent(call), expected, call.toString());
  }
  assert.equal(client.getMediaUrl(C, 'm1', CHAT), `${baseUrl}api/connections/${C}/messages/m1/media?chatId=14155550123%40c.us`);
});

test('every request carries the token, JSON and the SDK version', async () => {
  await sent(() => client.listTokens());
  const { headers } = requests[0];
  assert.equal(headers.authorization, 'Bearer wh_test');
  assert.equal(headers['content-type'], 'application/json');
  assert.equal(headers['user-agent'], `wahooks-js/${VERSION}`);
  await sent(() => new WAHooks({ apiKey: '', baseUrl }).health());
  assert.equal(requests[0].headers.authorization, undefined);
});

test('answers: parsed JSON, null when empty, WAHooksError with the message otherwise', async () => {
  try {
    answer = { status: 200, body: '', headers: {} };
    assert.equal(await client.getProfile(C), null);
    answer = { status: 200, body: '[{"id":"l2"}]', headers: { 'X-Next-Before': 'l2' } };
    assert.deepEqual(await client.getWebhookLogsPage('w1', { limit: 1 }), { logs: [{ id: 'l2' }], nextBefore: 'l2' });
    answer = { status: 400, body: '{"statusCode":400,"message":["a is bad","b is bad"],"error":"Bad Request"}', headers: {} };
    const error = await client.sendMessage(C, CHAT, 'x').catch((e) => e);
    assert.ok(error instanceof WAHooksError && error instanceof Error);
    assert.equal(error.name, 'WAHooksError');
    assert.equal(error.message, 'a is bad; b is bad');
    assert.equal(error.statusCode, 400);
    assert.deepEqual(error.body, { statusCode: 400, message: ['a is bad', 'b is bad'], error: 'Bad Request' });
    answer = { status: 502, body: 'upstream down', headers: {} };
    const text = await client.listConnections().catch((e) => e);
    assert.equal(text.message, 'Bad Gateway');
    assert.equal(text.body, 'upstream down');
  } finally {
    answer = { status: 200, body: '{"ok":true}', headers: {} };
  }
});

test('ESM and CommonJS export the same names, and VERSION is the package version', async () => {
  const { createRequire } = await import('node:module');
  const { readFileSync } = await import('node:fs');
  const esm = await import('wahooks');
  const cjs = createRequire(import.meta.url)('wahooks');
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  assert.deepEqual(Object.keys(esm).sort(), [
    'DEFAULT_BASE_URL', 'DEFAULT_TOLERANCE_SECONDS', 'EVENT_HEADER', 'InvalidSignature',
    'MissingSignatureHeaders', 'NO_WEBSOCKET_MESSAGE', 'SIGNATURE_HEADER', 'SignatureVerificationError',
    'TIMESTAMP_HEADER', 'TimestampOutsideTolerance', 'VERSION', 'WAHooks', 'WAHooksError',
    'WAHooksEventStream', 'computeSignature', 'standardWebhooksSecret', 'verifySignature',
  ]);
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(esm.VERSION, manifest.version);
  // Distinct classes per format, but each format's error is its own WAHooksError.
  assert.equal(new cjs.WAHooksError('x', 400, null).name, 'WAHooksError');
});

test('timeoutMs bounds a request to a server that never answers', async () => {
  const silent = createServer(() => {});
  await new Promise((done) => silent.listen(0, '127.0.0.1', done));
  try {
    const slow = new WAHooks({ apiKey: 'wh_test', baseUrl: `http://127.0.0.1:${silent.address().port}`, timeoutMs: 50 });
    const error = await slow.listConnections().catch((e) => e);
    assert.equal(error.name, 'TimeoutError');
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});
