// A real `wahooks serve` (sandbox engine) in a subprocess, on a free port with its own SQLite
// file, as tests/support/server.py starts it for the Python tests. The owner's token is read from
// the first start's output; restart() stops the process and starts it again on the same port and
// database, so a client (and a live stream) can reconnect to it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const PYTHON = process.env.WAHOOKS_PYTHON ?? join(REPO, '.venv/bin/python');
const TOKEN = /\b(wh_[0-9a-f]{48})\b/;

export function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

export class WahooksServer {
  /** `env`: settings for the server, such as WAHOOKS_RETRY_SCHEDULE. */
  constructor(env = {}) {
    this.env = env;
    this.folder = mkdtempSync(join(tmpdir(), 'wahooks-js-'));
    this.database = join(this.folder, 'wahooks.db');
    this.token = null;
    this.output = [];
    this.process = null;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port ??= await freePort();
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('WAHOOKS_')));
    const child = spawn(
      PYTHON,
      ['-m', 'wahooks.cli', 'serve', '--database', this.database, '--port', String(this.port), '--allow-private-targets'],
      { env: { ...env, ...this.env, PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = child;
    const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
    this.exited = exited;
    // The token comes on stdout and the "running" line on stderr, two pipes read in no fixed
    // order: ready once both were seen (the token only on the first start).
    let running = false;
    const ready = new Promise((done) => {
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          this.output.push(line);
          const token = TOKEN.exec(line);
          if (token && this.token === null) this.token = token[1];
          running ||= line.includes('Uvicorn running');
          if (running && this.token !== null) done(true);
        });
      }
    });
    const started = await Promise.race([ready, exited.then(() => false)]);
    if (!started) throw new Error(`wahooks serve did not start:\n${this.output.slice(-40).join('\n')}`);
    return this;
  }

  async stop() {
    if (this.process === null || this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill('SIGTERM');
    await this.exited;
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  async close() {
    await this.stop();
    rmSync(this.folder, { recursive: true, force: true });
  }

  /** A raw API call with the owner's token, for the routes the SDK has no method for (sandbox). */
  async call(method, path, body) {
    const response = await fetch(`${this.baseUrl}/api${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** The sandbox's phone scans the connection's QR code: it becomes connected. */
  scan(connectionId) {
    return this.call('POST', `/connections/${connectionId}/sandbox/scan`);
  }

  /** A sandbox contact writes to the connection's account. */
  inbound(connectionId, text, from = '14155550123@c.us') {
    return this.call('POST', `/connections/${connectionId}/sandbox/inbound`, { from, body: text });
  }

  presence(connectionId, presence, from = '14155550123@c.us') {
    return this.call('POST', `/connections/${connectionId}/sandbox/presence`, { from, presence });
  }
}

/** Start a server for one test file; stopped (and its files removed) when the file is done. */
