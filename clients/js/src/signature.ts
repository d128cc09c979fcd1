/**
 * Verifying a delivery on the receiving end.
 *
 * A delivery carries `X-WAHooks-Timestamp` (unix seconds) and `X-WAHooks-Signature`: "sha256="
 * and the lower-case hex HMAC-SHA256 of "{timestamp}.{body}" keyed with the webhook's signing
 * secret. Signing the timestamp too lets a receiver refuse old requests replayed by whoever
 * captured them. The errors mirror the Python SDK's (`wahooks.signing`).
 *
 * Every delivery also carries the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`: space-separated `v1,<base64>` signatures of "{id}.{timestamp}.{body}").
 * During a secret rotation's overlap X-WAHooks-Signature is still the old secret's and
 * `webhook-signature` carries the old and the new one's, so a secret verifies when either header
 * matches it (docs/signatures.md in the wahooks repository).
 */

import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-WAHooks-Signature';
export const TIMESTAMP_HEADER = 'X-WAHooks-Timestamp';
export const EVENT_HEADER = 'X-WAHooks-Event';
const STANDARD_ID_HEADER = 'webhook-id';
const STANDARD_TIMESTAMP_HEADER = 'webhook-timestamp';
const STANDARD_SIGNATURE_HEADER = 'webhook-signature';
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** Node's `req.headers` (any case, array values), a Fetch `Headers`, or a plain object. */
export type HeadersInput =
  | { get(name: string): string | null }
  | Record<string, string | readonly string[] | undefined>;

/** The body exactly as received: a string, a Buffer or other Uint8Array, an ArrayBuffer. */
export type RawBody = string | Uint8Array | ArrayBuffer;

export interface VerifyOptions {
  /**
   * How far, in whole seconds, the timestamp may lie from now either way (default 300). `null`
   * turns the check off, for archived requests; 0 accepts only the current second.
   */
  toleranceSeconds?: number | null | undefined;
  /** The time to check against (default: now). */
  now?: Date | undefined;
}

/** The delivery could not be verified; `message` says why. */
export class SignatureVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class MissingSignatureHeaders extends SignatureVerificationError {
  constructor(message = `The request lacks a usable ${SIGNATURE_HEADER} or ${TIMESTAMP_HEADER} header`) {
    super(message);
  }
}

export class InvalidSignature extends SignatureVerificationError {
  constructor(message = `The ${SIGNATURE_HEADER} header does not match the body and timestamp`) {
    super(message);
  }
}

export class TimestampOutsideTolerance extends SignatureVerificationError {}

/** The X-WAHooks-Signature value of `body` sent at `timestamp` (unix seconds) with `secret`. */
export function computeSignature(secret: string, timestamp: number | string, body: RawBody): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.`).update(bytes(body)).digest('hex');
}

/**
 * The secret as Standard Webhooks libraries take it: "whsec_" and the base64 of its UTF-8 text,
 * which is the HMAC key both schemes use.
 */
export function standardWebhooksSecret(secret: string): string {
  return 'whsec_' + Buffer.from(secret, 'utf8').toString('base64');
}

/**
 * Throw a SignatureVerificationError unless `rawBody` and `headers` were signed with `secret` (or
 * with one of `secrets`, for a rotation) within `toleranceSeconds` of now.
 *
 * `rawBody` is the body as received, before any JSON parsing: in Express,
 * `express.raw({ type: 'application/json' })` gives it as a Buffer.
 */
export function verifySignature(
  rawBody: RawBody,
  headers: HeadersInput,
  secret: string | readonly string[],
  options: VerifyOptions = {},
): void {
  const secrets = typeof secret === 'string' ? [secret] : [...secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s === '')) {
    throw new TypeError('verifySignature needs the signing secret: a non-empty string or array of them');
  }
  const provided = header(headers, SIGNATURE_HEADER);
  const timestamp = header(headers, TIMESTAMP_HEADER) ?? header(headers, STANDARD_TIMESTAMP_HEADER);
  const messageId = header(headers, STANDARD_ID_HEADER);
  const standard = messageId === undefined ? undefined : header(headers, STANDARD_SIGNATURE_HEADER);
  if ((provided === undefined && standard === undefined) || timestamp === undefined) {
    throw new MissingSignatureHeaders();
  }
  if (!/^\d+$/.test(timestamp)) {
    throw new MissingSignatureHeaders(`${TIMESTAMP_HEADER} is not unix seconds: ${JSON.stringify(timestamp)}`);
  }
  const body = bytes(rawBody);
  // Every secret is tried, so the time taken does not tell which one matched.
  let matched = false;
  for (const candidate of secrets) {
    // The timestamp text as received is signed, as the product page's receivers do.
    if (provided !== undefined) {
      matched = sameText(computeSignature(candidate, timestamp, body), provided) || matched;
    }
    if (standard !== undefined && messageId !== undefined) {
      const expected = createHmac('sha256', candidate)
        .update(`${messageId}.${timestamp}.`)
        .update(body)
        .digest('base64');
      for (const entry of standard.split(' ')) {
        if (entry.startsWith('v1,')) matched = sameText(expected, entry.slice(3)) || matched;
      }
    }
  }
  if (!matched) throw new InvalidSignature();
  // Checked only once the signature holds, so this error means "authentic but stale", which
  // points at clock skew or a replay rather than at a wrong secret.
  const tolerance = options.toleranceSeconds === undefined ? DEFAULT_TOLERANCE_SECONDS : options.toleranceSeconds;
  if (tolerance !== null) checkAge(Number(timestamp), tolerance, options.now ?? new Date());
}

function checkAge(timestamp: number, tolerance: number, now: Date): void {
  if (!(tolerance >= 0)) {
    throw new RangeError(`toleranceSeconds must be seconds >= 0 or null, not ${tolerance}`);
  }
  const age = Math.floor(now.getTime() / 1000) - timestamp;
  if (Math.abs(age) > tolerance) {
    const when = age > 0 ? `${age} s old` : `${-age} s in the future`;
    throw new TimestampOutsideTolerance(`${TIMESTAMP_HEADER} is ${when}, beyond the tolerance of ${tolerance} s`);
  }
}

/** Constant-time equality of two strings (their lengths aside, which the scheme fixes anyway). */
function sameText(expected: string, provided: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(provided, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function bytes(body: RawBody): Uint8Array {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError(
    'verifySignature needs the raw request body (a string or Buffer), not a parsed object: use ' +
      "express.raw({ type: 'application/json' }) for the webhook route, or pass JSON.stringify(req.body)",
  );
}

/** The first value of header `name`, whatever the case of its key. */
function header(headers: HeadersInput, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (key.toLowerCase() === wanted && value !== undefined) {
      return typeof value === 'string' ? value : value[0];
    }
  }
  return undefined;
}
