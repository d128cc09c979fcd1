// Run the test files with Node's test runner, one file at a time (each starts its own
// `wahooks serve`; the suite stays light on a small machine). Where Node has a WebSocket behind
// --experimental-websocket (Node 20), the flag is set so the global-WebSocket path is tested too.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const tests = join(dirname(fileURLToPath(import.meta.url)), '..', 'test');
const files = process.argv.length > 2
  ? process.argv.slice(2)
  : readdirSync(tests).filter((name) => name.endsWith('.test.mjs')).sort().map((name) => join(tests, name));
const flags = typeof globalThis.WebSocket !== 'function' && process.allowedNodeEnvironmentFlags.has('--experimental-websocket')
  ? ['--experimental-websocket']
  : [];
const run = spawnSync(
  process.execPath,
  [...flags, '--test', '--test-concurrency=1', '--test-timeout=120000', ...files],
  { stdio: 'inherit' },
);
process.exit(run.status ?? 1);
