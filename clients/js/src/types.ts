/**
 * What the API answers, typed. The official SDK 0.7.0's interfaces keep their names and fields;
 * the fields this server adds are optional here so that code typed against the originals still
 * compiles, and answers that pass through from the WhatsApp engine keep an index signature.
 */

import type { WebSocketConstructor } from './stream.js';

export interface WAHooksOptions {
  apiKey: string;
  /** The server, without `/api` (default `https://api.wahooks.com`, the hosted original). */
  baseUrl?: string | undefined;
  /** Give up on a request after this many milliseconds (default 30 000; 0 waits forever). */
  timeoutMs?: number | undefined;
  /** The WebSocket class `listen()` uses where the runtime has no global one (the `ws` package). */
  webSocket?: WebSocketConstructor | undefined;
}

export interface Connection {
  id: string;
  userId: string;
  workerId: string | null;
  /** wahooks: the name given at creation or by `renameConnection` (null when none). */
  name?: string | null;
  sessionName: string;
  phoneNumber: string | null;
  /** `pending`, `scan_qr`, `connected`, `failed`, `stopped` */
  status: string;
  engine: string;
  createdAt: string;
  updatedAt: string;
}

export interface ScannableConnection {
  id: string;
  status: string;
  /** The QR code as base64 PNG, null while the engine has none yet. */
  qr: string | null;
}

/** `getQR`: the PNG form, the raw text form (`format: 'raw'`), or `{ connected: true }`. */
export interface QRCode {
  value: string;
  mimetype?: string;
  connected?: boolean;
}

export interface WebhookConfig {
  id: string;
  userId: string;
  /** The connection's id (the original's name for it). */
  sessionId: string;
  url: string;
  events: string[];
  signingSecret: string;
  /** False when switched off by hand, and when the server disabled it (`disabledReason`). */
  active: boolean;
  createdAt: string;
  updatedAt: string;
  /** wahooks: why the server disabled it: `gone` (its endpoint answered 410) or `failing`
   * (every attempt failed for days); null when it did not. Its new events are held meanwhile. */
  disabledReason?: 'gone' | 'failing' | null;
  /** wahooks: when the server disabled it (ISO 8601). */
  disabledAt?: string | null;
  /** wahooks: `'chat'` when one chat's deliveries go one after another, in event order. */
  ordering?: Ordering;
}

/** wahooks: the answer of `getWebhookHealth`: how the webhook's endpoint has been answering. */
export interface WebhookHealth {
  webhookId: string;
  active: boolean;
  disabledReason: 'gone' | 'failing' | null;
  disabledAt: string | null;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** The first failed attempt since the last success. */
  failingSince: string | null;
  consecutiveDeadLetters: number;
  attempts24h: number;
  successes24h: number;
  /** Successful attempts over all attempts in the last 24 h; null without attempts. */
  successRate24h: number | null;
  /** Deliveries held now (replayed by `updateWebhook(id, { active: true })`). */
  held: number;
  /** Held deliveries the server's held cap removed, oldest first. */
  heldDropped: number;
}

/** wahooks: per-chat ordering of a webhook's deliveries. */
export type Ordering = 'none' | 'chat';

/** wahooks: what `createWebhook` takes besides the original's arguments. */
export interface WebhookOptions {
  ordering?: Ordering | undefined;
}

/** wahooks: one attempt at a delivery. */
export interface DeliveryAttempt {
  attempt: number;
  at: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number | null;
  /** wahooks: why it failed: `timeout`, `connect_refused`, `connect_reset`, `dns`, `tls`,
   * `target_refused`, `http_status`, `response_too_large`, `other`; null when it succeeded. */
  errorClass?: string | null;
  /** wahooks: the first 1 KiB of the receiver's answer. */
  responseBody?: string | null;
  /** wahooks: a few of the answer's headers (content-type, retry-after, request ids), lower case. */
  responseHeaders?: Record<string, string>;
  /** wahooks: what made the attempt: `scheduled`, `manual`, `recover`, `replay` or `test`. */
  trigger?: string | null;
  /** wahooks: the request's headers as sent, in order and case; null when not recorded. */
  requestHeaders?: Record<string, string> | null;
}

/** wahooks: the answer of `rotateSecret`. */
export interface RotatedSecret {
  success: boolean;
  webhookId: string;
  /** The new secret, shown this once. */
  signingSecret: string;
  /** When the old secret stops signing (ISO 8601): now, when the overlap was 0. */
  previousSecretExpiresAt: string;
}

export interface WebhookLog {
  id: string;
  webhookConfigId: string;
  eventType: string;
  /** The delivered body, parsed. */
  payload: unknown;
  /** `pending`, `delivered`, `failed` (dead-lettered) or, wahooks, `held` (its webhook is disabled) */
  status: string;
  attempts: number;
  deliveredAt: string | null;
  createdAt: string;
  /** wahooks: the event's id (`evt_...`), the same in every delivery of one event. */
  eventId?: string;
  nextAttemptAt?: string | null;
  lastError?: string | null;
  lastStatusCode?: number | null;
  attemptLog?: DeliveryAttempt[];
}

/** wahooks: a page of delivery logs and the cursor to the next (older) one. */
export interface WebhookLogPage {
  logs: WebhookLog[];
  /** Pass as `before` for the next page; null on the last page. */
  nextBefore: string | null;
}

export interface ApiToken {
  id: string;
  name: string;
  tokenPrefix: string;
  active: boolean;
  lastUsedAt: string | null;
  createdAt: string;
}

/** The answer to `createToken`: the only time `token` is shown. */
export interface ApiTokenCreated extends Omit<ApiToken, 'active' | 'lastUsedAt'> {
  token: string;
  active?: boolean;
  lastUsedAt?: string | null;
}

export interface Chat {
  id: string;
  name?: string;
  conversationTimestamp?: number;
  [key: string]: unknown;
}

export interface Profile {
  id: string;
  pushName: string;
  [key: string]: unknown;
}

/** What a send answers: the engine's message, at least its id. */
export interface SendResult {
  id: string;
  timestamp: number;
  [key: string]: unknown;
}

export interface Success {
  success: boolean;
}

/** wahooks: one stored message of a chat. */
export interface ChatMessage {
  id: string;
  timestamp: number;
  from: string;
  fromMe: boolean;
  body: string;
  hasMedia?: boolean;
  [key: string]: unknown;
}

/** wahooks: a page of a chat's messages, newest first. */
export interface MessagePage {
  messages: ChatMessage[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextBefore: string | null;
  /** On the last page: the timestamp of the oldest message there is (else null). */
  historyStartsAt: number | null;
}

/** wahooks: a contact of the linked account. */
export interface Contact {
  jid: string;
  name: string | null;
  phoneNumber: string | null;
  isGroup: boolean;
  [key: string]: unknown;
}

/** wahooks: a message's media, downloaded with the API token. */
export interface Media {
  data: Uint8Array;
  mimetype: string;
}

/** wahooks: the account the token belongs to. */
export interface Account {
  id: string;
  email: string | null;
  name: string;
  isAdmin: boolean;
}

/** Where `sendImage`, `sendVideo` and the others take their file from: `url`, or `data` (base64). */
export interface MediaOptions {
  url?: string | undefined;
  data?: string | undefined;
  mimetype?: string | undefined;
  caption?: string | undefined;
  skipPresence?: boolean | undefined;
}

export interface DocumentOptions extends MediaOptions {
  filename?: string | undefined;
}

export type AudioOptions = Omit<MediaOptions, 'caption'>;

export interface SendOptions {
  /** Send at once, without "typing..." first. */
  skipPresence?: boolean | undefined;
}

export interface SendMessageOptions extends SendOptions {
  /** The id of the message this one replies to. */
  replyTo?: string | undefined;
}

export interface WebhookUpdate {
  url?: string | undefined;
  events?: string[] | undefined;
  active?: boolean | undefined;
  /** wahooks: `'chat'` or `'none'`; applies to events accepted from then on. */
  ordering?: Ordering | undefined;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookLogOptions {
  status?: DeliveryStatus | undefined;
  /** 1 to 1000, default 100. */
  limit?: number | undefined;
  /** A log id: only deliveries older than it. */
  before?: string | undefined;
  /** wahooks: only this event type. */
  eventType?: string | undefined;
  /** wahooks: only events at or after this ISO 8601 time. */
  since?: string | undefined;
  /** wahooks: only events before this ISO 8601 time. */
  until?: string | undefined;
  /** wahooks: the last attempt's HTTP status class; `none`: no HTTP answer (e.g. a timeout). */
  statusClass?: '2xx' | '3xx' | '4xx' | '5xx' | 'none' | undefined;
}

export interface PageOptions {
  limit?: number | undefined;
  offset?: number | undefined;
}
