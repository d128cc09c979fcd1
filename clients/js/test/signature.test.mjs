// verifySignature against the signed delivery example in ../shared/fixtures/wahooks/, and every
// way a delivery can fail verification.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  InvalidSignature,
  MissingSignatureHeaders,
  SignatureVerificationError,
  TimestampOutsideTolerance,
  computeSignature,
  verifySignature,
} from 'wahooks';

const example = JSON.parse(
  readFileSync(new URL('../../../../shared/fixtures/wahooks/outgoing-signature.example.json', import.meta.url), 'utf8'),
);
const { body, headers, signingSecret: secret } = example;
const sentAt = Number(headers['X-WAHooks-Timestamp']);
const at = (seconds) => ({ now: new Date(seconds * 1000) });
const lower = (object) => Object.fromEntries(Object.entries(object).map(([k, v]) => [k.toLowerCase(), v]));

function refusal(call) {
  try {
    call();
  } catch (error) {
    assert.ok(error instanceof SignatureVerificationError, `${error}`);
    return error;
  }
  assert.fail('verified');
}

test('the fixture delivery verifies, as string, Buffer, Uint8Array and ArrayBuffer', () => {
  const buffer = Buffer.from(body);
  const arrayBuffer = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length);
  for (const raw of [body, buffer, new Uint8Array(buffer), arrayBuffer]) {
    assert.equal(verifySignature(raw, headers, secret, at(sentAt)), undefined);
  }
  assert.equal(computeSignature(secret, sentAt, body), headers['X-WAHooks-Signature']);
});

test("headers as Node gives them (lower case, arrays), as Fetch Headers, in any case", () => {
  verifySignature(body, lower(headers), secret, at(sentAt));
  verifySignature(body, new Headers(headers), secret, at(sentAt));
  const arrays = Object.fromEntries(Object.entries(lower(headers)).map(([k, v]) => [k, [v, 'ignored']]));
  verifySignature(body, arrays, secret, at(sentAt));
  const shouting = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
  verifySignature(body, shouting, secret, at(sentAt));
});

test('any one of several secrets verifies, for a rotation', () => {
  verifySignature(body, headers, ['0'.repeat(64), secret], at(sentAt));
  const error = refusal(() => verifySignature(body, headers, ['0'.repeat(64), 'f'.repeat(64)], at(sentAt)));
  assert.ok(error instanceof InvalidSignature);
});

test('a changed body, timestamp, signature or secret is an InvalidSignature', () => {
  const cases = [
    () => verifySignature(body.replace('shipped', 'Shipped'), headers, secret, at(sentAt)),
    () => verifySignature(body + ' ', headers, secret, at(sentAt)),
    () => verifySignature(body, { ...headers, 'X-WAHooks-Timestamp': String(sentAt + 1) }, secret, at(sentAt)),
    () => verifySignature(body, { ...headers, 'X-WAHooks-Signature': headers['X-WAHooks-Signature'].toUpperCase() }, secret, at(sentAt)),
    () => verifySignature(body, { ...headers, 'X-WAHooks-Signature': 'sha256=' }, secret, at(sentAt)),
    () => verifySignature(body, headers, secret.slice(1), at(sentAt)),
  ];
  for (const call of cases) {
    const error = refusal(call);
    assert.ok(error instanceof InvalidSignature, call.toString());
    assert.equal(error.name, 'InvalidSignature');
  }
});

test('missing or malformed headers are MissingSignatureHeaders', () => {
  const { 'X-WAHooks-Signature': _s, ...unsigned } = headers;
  const { 'X-WAHooks-Timestamp': _t, ...undated } = headers;
  for (const given of [unsigned, undated, {}]) {
    assert.ok(refusal(() => verifySignature(body, given, secret, at(sentAt))) instanceof MissingSignatureHeaders);
  }
  for (const stamp of ['', '17900000.1', '-1790000001', ' 1790000001', 'soon']) {
    const error = refusal(() => verifySignature(body, { ...headers, 'X-WAHooks-Timestamp': stamp }, secret, at(sentAt)));
    assert.ok(error instanceof MissingSignatureHeaders, stamp);
  }
});

test('the timestamp must lie within toleranceSeconds either way, checked after the signature', () => {
  verifySignature(body, headers, secret, at(sentAt + 300));
  verifySignature(body, headers, secret, at(sentAt - 300));
  const stale = refusal(() => verifySignature(body, headers, secret, at(sentAt + 301)));
  assert.ok(stale instanceof TimestampOutsideTolerance);
  assert.equal(stale.message, 'X-WAHooks-Timestamp is 301 s old, beyond the tolerance of 300 s');
  const early = refusal(() => verifySignature(body, headers, secret, { toleranceSeconds: 10, now: new Date((sentAt - 11) * 1000) }));
  assert.equal(early.message, 'X-WAHooks-Timestamp is 11 s in the future, beyond the tolerance of 10 s');
  verifySignature(body, headers, secret, { toleranceSeconds: 0, now: new Date(sentAt * 1000 + 999) });
  verifySignature(body, headers, secret, { toleranceSeconds: null, now: new Date(0) });
  // A stale request signed with another secret says the signature is wrong, not that it is old.
  assert.ok(refusal(() => verifySignature(body, headers, 'x', at(sentAt + 9999))) instanceof InvalidSignature);
  // Without `now`, the real clock: the fixture is from 2026-09, long past.
  assert.ok(refusal(() => verifySignature(body, headers, secret)) instanceof TimestampOutsideTolerance);
});

test('misuse is a TypeError or RangeError, not a verification result', () => {
  assert.throws(() => verifySignature(JSON.parse(body), headers, secret, at(sentAt)), /raw request body/);
  assert.throws(() => verifySignature(body, headers, '', at(sentAt)), TypeError);
  assert.throws(() => verifySignature(body, headers, [], at(sentAt)), TypeError);
  assert.throws(() => verifySignature(body, headers, secret, { toleranceSeconds: -1, now: new Date(sentAt * 1000) }), RangeError);
});

test("the product page's re-stringified body also verifies a wahooks delivery", () => {
  // wahooks sends compact JSON as JSON.stringify writes it, so parsing and re-serialising gives
  // the same bytes back; the raw body needs no such luck (see the README).
  verifySignature(JSON.stringify(JSON.parse(body)), headers, secret, at(sentAt));
});
