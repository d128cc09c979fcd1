// `npm pack` gives a tarball that installs into an empty folder and works there, as ESM and as
// CommonJS: the product page's seed snippet runs from it against a real `wahooks serve`.
// The tarball is packed from the current build (`npm test` builds first).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WAHooks } from 'wahooks';
import { WahooksServer } from './support/server.mjs';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const SNIPPET = `
const webhook = await client.createWebhook(connectionId, 'https://your-server.com/webhook',
  ['message', 'message.any']); // or ['*'] for all events
console.log(webhook.signingSecret);
const webhookId = webhook.id;
await client.testWebhook(webhookId);
console.log(webhookId);
`;
const ESM = `import { WAHooks } from 'wahooks';
const client = new WAHooks({ apiKey: process.env.WAHOOKS_API_KEY, baseUrl: process.env.WAHOOKS_URL });
const connectionId = process.env.CONNECTION_ID;
${SNIPPET}`;
const CJS = `const { WAHooks, verifySignature, computeSignature } = require('wahooks');
const client = new WAHooks({ apiKey: process.env.WAHOOKS_API_KEY, baseUrl: process.env.WAHOOKS_URL });
const connectionId = process.env.CONNECTION_ID;
(async () => {
${SNIPPET}
  const stamp = String(Math.floor(Date.now() / 1000));
  verifySignature('{}', { 'x-wahooks-timestamp': stamp, 'x-wahooks-signature': computeSignature('s', stamp, '{}') }, 's');
})().catch((error) => { console.error(error); process.exit(1); });
`;

let folder;
let server;
let client;

before(async () => {
  folder = mkdtempSync(join(tmpdir(), 'wahooks-js-pack-'));
  server = await new WahooksServer().start();
  client = new WAHooks({ apiKey: server.token, baseUrl: server.baseUrl });
});
after(async () => {
  await server.close();
  rmSync(folder, { recursive: true, force: true });
});

function npm(args, cwd) {
  return execFileSync(NPM, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
}

test('the packed tarball installs into an empty folder and runs the seed snippet as ESM and CJS', async () => {
  const [packed] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', folder], PACKAGE));
  const files = packed.files.map((file) => file.path).sort();
  for (const expected of ['README.md', 'package.json', 'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts']) {
    assert.ok(files.includes(expected), `${expected} missing from ${files}`);
  }
  assert.ok(files.every((path) => path.startsWith('dist/') || ['README.md', 'package.json'].includes(path)), String(files));

  const app = join(folder, 'app');
  execFileSync('mkdir', [app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  npm(['install', '--offline', '--no-audit', '--no-fund', join(folder, packed.filename)], app);
  const installed = JSON.parse(readFileSync(join(app, 'node_modules/wahooks/package.json'), 'utf8'));
  assert.equal(installed.version, packed.version);
  assert.deepEqual(installed.dependencies ?? {}, {});

  writeFileSync(join(app, 'seed.mjs'), ESM);
  writeFileSync(join(app, 'seed.cjs'), CJS);
  for (const script of ['seed.mjs', 'seed.cjs']) {
    const { id } = await client.createConnection();
    const env = { ...process.env, WAHOOKS_API_KEY: server.token, WAHOOKS_URL: server.baseUrl, CONNECTION_ID: id };
    const [secret, webhookId] = execFileSync(process.execPath, [script], { cwd: app, env, encoding: 'utf8' }).trim().split('\n');
    assert.match(secret, /^[0-9a-f]{64}$/, script);
    const [webhook] = await client.listWebhooks(id);
    assert.equal(webhook.id, webhookId);
    assert.equal(webhook.signingSecret, secret);
    assert.deepEqual(webhook.events, ['message', 'message.any']);
    assert.equal((await client.getWebhookLogs(webhookId))[0].eventType, 'test');
  }
});
