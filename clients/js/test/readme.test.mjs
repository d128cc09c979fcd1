// Docs that cannot drift: every method of the client and every name the package exports is in
// the README.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as wahooks from 'wahooks';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('every method of WAHooks is documented', () => {
  const methods = Object.getOwnPropertyNames(wahooks.WAHooks.prototype)
    .filter((name) => name !== 'constructor' && !['post', 'request', 'url', 'fetch'].includes(name));
  assert.equal(methods.length, 47, String(methods));
  const missing = methods.filter((name) => !README.includes(`${name}(`) && !README.includes(`\`${name}\``));
  assert.deepEqual(missing, []);
});

test('every exported value is documented', () => {
  const internal = new Set(['DEFAULT_BASE_URL', 'DEFAULT_TOLERANCE_SECONDS', 'EVENT_HEADER', 'NO_WEBSOCKET_MESSAGE',
    'SIGNATURE_HEADER', 'TIMESTAMP_HEADER', 'VERSION']);
  const missing = Object.keys(wahooks).filter((name) => !internal.has(name) && !README.includes(name));
  assert.deepEqual(missing, []);
});
