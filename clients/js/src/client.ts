/**
 * `new WAHooks({ apiKey, baseUrl })`: every route of the API as a method.
 *
 * The official @wahooks/sdk 0.7.0's methods come first, one for one: same names, argument order,
 * option objects and answers, so code written for it runs unchanged. Then what this server adds
 * (message history, contacts, edits, media, log filters and paging, redelivery, the account and
 * health), each marked "wahooks:". Request bodies are JSON, and an option left undefined is left
 * out of them, as the original does.
 */

import { WAHooksError } from './errors.js';
import { type ListenOptions, WAHooksEventStream, resolveWebSocket } from './stream.js';
import type {
  Account,
  ApiToken,
  ApiTokenCreated,
  AudioOptions,
  Chat,
  ChatMessage,
  Connection,
  Contact,
  DocumentOptions,
  Media,
  MediaOptions,
  MessagePage,
  PageOptions,
  Profile,
  QRCode,
  RotatedSecret,
  ScannableConnection,
  SendMessageOptions,
  SendOptions,
  SendResult,
  Success,
  WAHooksOptions,
  WebhookConfig,
  WebhookHealth,
  WebhookLog,
  WebhookLogOptions,
  WebhookLogPage,
  WebhookOptions,
  WebhookUpdate,
} from './types.js';
import { VERSION } from './version.js';

export const DEFAULT_BASE_URL = 'https://api.wahooks.com';
export const DEFAULT_TIMEOUT_MS = 30_000;

type Query = Record<string, string | number | boolean | undefined>;

interface Call {
  body?: unknown;
  query?: Query;
}

export class WAHooks {
  private readonly apiKey: string;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly webSocket: WAHooksOptions['webSocket'];

  constructor(options: WAHooksOptions) {
    this.apiKey = options.apiKey;
    this.baseUrl = (options.baseUrl || DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.webSocket = options.webSocket;
  }

  // --- Connections ---

  async listConnections(): Promise<Connection[]> {
    return this.request('GET', '/connections');
  }

  /** A new connection waiting for its QR scan; wahooks: optionally with a `name`. */
  async createConnection(options?: { name?: string | undefined }): Promise<Connection> {
    return this.request('POST', '/connections', { body: options?.name ? { name: options.name } : undefined });
  }

  /**
   * A connection ready to scan, `{ id, status, qr }`: reuses one of yours that waits for a scan,
   * else creates one. wahooks: `virginOnly` reuses only connections never linked and without
   * webhooks.
   */
  async getOrCreateScannableConnection(options?: { virginOnly?: boolean | undefined }): Promise<ScannableConnection> {
    const body = options?.virginOnly ? { virgin_only: true } : undefined;
    return this.request('POST', '/connections/get-or-create', { body });
  }

  async getConnection(id: string): Promise<Connection> {
    return this.request('GET', `/connections/${segment(id)}`);
  }

  /** Stops the connection and logs it out; answers the connection, `status: 'stopped'`. */
  async deleteConnection(id: string): Promise<Connection & { success?: boolean }> {
    return this.request('DELETE', `/connections/${segment(id)}`);
  }

  async restartConnection(id: string): Promise<Connection> {
    return this.request('POST', `/connections/${segment(id)}/restart`);
  }

  /** The QR code as base64 PNG (`{ value, mimetype }`), or `{ connected: true }` once linked.
   * wahooks: `format: 'raw'` gives the text the QR code encodes instead. */
  async getQR(connectionId: string, options?: { format?: 'raw' | undefined }): Promise<QRCode> {
    return this.request('GET', `/connections/${segment(connectionId)}/qr`, { query: { format: options?.format } });
  }

  /** Recent chats, newest first; wahooks: `limit` (default 20) and `offset`. */
  async getChats(connectionId: string, options?: PageOptions): Promise<Chat[]> {
    return this.request('GET', `/connections/${segment(connectionId)}/chats`, { query: { ...options } });
  }

  /** The linked WhatsApp account; null before the QR code is scanned. */
  async getProfile(connectionId: string): Promise<Profile> {
    return this.request('GET', `/connections/${segment(connectionId)}/me`);
  }

  // --- Messaging ---

  async sendMessage(connectionId: string, chatId: string, text: string, options?: SendMessageOptions): Promise<SendResult> {
    return this.post(connectionId, 'send', { chatId, text, ...options });
  }

  /** React to a message with an emoji; an empty string removes the reaction. */
  async react(connectionId: string, chatId: string, messageId: string, reaction: string): Promise<Success> {
    return this.post(connectionId, 'react', { chatId, messageId, reaction });
  }

  async markRead(connectionId: string, chatId: string): Promise<Success> {
    return this.post(connectionId, 'mark-read', { chatId });
  }

  async startTyping(connectionId: string, chatId: string): Promise<Success> {
    return this.post(connectionId, 'typing', { chatId });
  }

  async stopTyping(connectionId: string, chatId: string): Promise<Success> {
    return this.post(connectionId, 'typing/stop', { chatId });
  }

  /** Send an image from `url`, or from `data` (base64) with its `mimetype`. */
  async sendImage(connectionId: string, chatId: string, options: MediaOptions): Promise<SendResult> {
    return this.post(connectionId, 'send-image', { chatId, ...options });
  }

  async sendDocument(connectionId: string, chatId: string, options: DocumentOptions): Promise<SendResult> {
    return this.post(connectionId, 'send-document', { chatId, ...options });
  }

  async sendVideo(connectionId: string, chatId: string, options: MediaOptions): Promise<SendResult> {
    return this.post(connectionId, 'send-video', { chatId, ...options });
  }

  async sendAudio(connectionId: string, chatId: string, options: AudioOptions): Promise<SendResult> {
    return this.post(connectionId, 'send-audio', { chatId, ...options });
  }

  async sendLocation(
    connectionId: string,
    chatId: string,
    latitude: number,
    longitude: number,
    name?: string,
    address?: string,
    options?: SendOptions,
  ): Promise<SendResult> {
    return this.post(connectionId, 'send-location', { chatId, latitude, longitude, name, address, ...options });
  }

  async sendContact(
    connectionId: string,
    chatId: string,
    contactName: string,
    contactPhone: string,
    options?: SendOptions,
  ): Promise<SendResult> {
    return this.post(connectionId, 'send-contact', { chatId, contactName, contactPhone, ...options });
  }

  // --- Real-time events ---

  /**
   * The live event stream of your connections (see WAHooksEventStream). Throws at once, saying
   * what to install, when the runtime has no WebSocket and none was given.
   */
  listen(options: ListenOptions = {}): WAHooksEventStream {
    const webSocket = resolveWebSocket(options.webSocket ?? this.webSocket);
    const url = new URL(`${this.baseUrl}/api/ws`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', this.apiKey);
    if (options.envelope) url.searchParams.set('envelope', 'true');
    return new WAHooksEventStream(url.toString(), { ...options, webSocket });
  }

  // --- Webhooks ---

  async listWebhooks(connectionId: string): Promise<WebhookConfig[]> {
    return this.request('GET', `/connections/${segment(connectionId)}/webhooks`);
  }

  /** A new webhook for `events` (all, `['*']`, by default); its `signingSecret` signs every delivery. */
  /** wahooks: `options.ordering` `'chat'` delivers one chat's events one after another, in event
   * order (default `'none'`: each on its own). */
  async createWebhook(
    connectionId: string, url: string, events: string[] = ['*'], options?: WebhookOptions,
  ): Promise<WebhookConfig> {
    const body: Record<string, unknown> = { url, events };
    if (options?.ordering !== undefined) body.ordering = options.ordering;
    return this.request('POST', `/connections/${segment(connectionId)}/webhooks`, { body });
  }

  /** Change `url`, `events` or `active`. wahooks: `{ active: true }` on a webhook the server
   * disabled enables it and replays its held deliveries in event order. */
  async updateWebhook(webhookId: string, updates: WebhookUpdate): Promise<WebhookConfig> {
    return this.request('PUT', `/webhooks/${segment(webhookId)}`, { body: updates });
  }

  async deleteWebhook(webhookId: string): Promise<Success> {
    return this.request('DELETE', `/webhooks/${segment(webhookId)}`);
  }

  /** Deliveries, newest first (100 by default). wahooks: filter by `status`, page with `limit`
   * and `before`; `getWebhookLogsPage` also answers the cursor to the next page. */
  async getWebhookLogs(webhookId: string, options?: WebhookLogOptions): Promise<WebhookLog[]> {
    return (await this.getWebhookLogsPage(webhookId, options)).logs;
  }

  /** Deliver the test event: `{ success: true, logId }`. */
  async testWebhook(webhookId: string): Promise<{ success: boolean; logId: string; message?: string }> {
    return this.request('POST', `/webhooks/${segment(webhookId)}/test`);
  }

  // --- API tokens ---

  async listTokens(): Promise<ApiToken[]> {
    return this.request('GET', '/tokens');
  }

  /** A new token; its `token` is shown only in this answer. */
  async createToken(name: string): Promise<ApiTokenCreated> {
    return this.request('POST', '/tokens', { body: { name } });
  }

  async revokeToken(tokenId: string): Promise<Success> {
    return this.request('DELETE', `/tokens/${segment(tokenId)}`);
  }

  // --- wahooks: beyond the official SDK ---

  /** wahooks: `{ status: 'ok' }` while the server runs (no token needed). */
  async health(): Promise<{ status: string }> {
    return this.request('GET', '');
  }

  /** wahooks: the account the token belongs to. */
  async getMe(): Promise<Account> {
    return this.request('GET', '/me');
  }

  /** wahooks: name a connection (null removes the name). */
  async renameConnection(connectionId: string, name: string | null): Promise<Connection> {
    return this.request('PATCH', `/connections/${segment(connectionId)}`, { body: { name } });
  }

  /** wahooks: a page of a chat's messages, newest first; pass `nextBefore` as `before` for the next. */
  async getMessages(connectionId: string, chatId: string, options?: { limit?: number | undefined; before?: string | undefined }): Promise<MessagePage> {
    const path = `/connections/${segment(connectionId)}/chats/${segment(chatId)}/messages`;
    return this.request('GET', path, { query: { ...options } });
  }

  /** wahooks: one message. */
  async getMessage(connectionId: string, messageId: string, chatId: string): Promise<ChatMessage> {
    return this.request('GET', `/connections/${segment(connectionId)}/messages/${segment(messageId)}`, { query: { chatId } });
  }

  /** wahooks: edit one of your messages. */
  async editMessage(connectionId: string, messageId: string, chatId: string, text: string): Promise<SendResult> {
    return this.request('PUT', `/connections/${segment(connectionId)}/messages/${segment(messageId)}`, { body: { chatId, text } });
  }

  /** wahooks: the URL of a message's media (it needs the same Authorization header). */
  getMediaUrl(connectionId: string, messageId: string, chatId: string): string {
    const path = `/connections/${segment(connectionId)}/messages/${segment(messageId)}/media`;
    return `${this.baseUrl}/api${path}?chatId=${encodeURIComponent(chatId)}`;
  }

  /** wahooks: a message's media, downloaded. */
  async downloadMedia(connectionId: string, messageId: string, chatId: string): Promise<Media> {
    const response = await this.fetch('GET', this.getMediaUrl(connectionId, messageId, chatId));
    if (!response.ok) throw await failure(response);
    const mimetype = response.headers.get('content-type') ?? 'application/octet-stream';
    return { data: new Uint8Array(await response.arrayBuffer()), mimetype };
  }

  /** wahooks: the linked account's contacts (`limit` default 100, `offset`). */
  async getContacts(connectionId: string, options?: PageOptions): Promise<Contact[]> {
    return this.request('GET', `/connections/${segment(connectionId)}/contacts`, { query: { ...options } });
  }

  /** wahooks: a contact's profile picture URL (null when hidden or absent). */
  async getProfilePicture(connectionId: string, contactId: string): Promise<{ profilePictureUrl: string | null }> {
    return this.request('GET', `/connections/${segment(connectionId)}/contacts/${segment(contactId)}/picture`);
  }

  /** wahooks: a page of deliveries and `nextBefore`, the `before` of the next page (null on the last). */
  async getWebhookLogsPage(webhookId: string, options?: WebhookLogOptions): Promise<WebhookLogPage> {
    const response = await this.fetch('GET', this.url(`/webhooks/${segment(webhookId)}/logs`, { ...options }));
    const logs = await answer<WebhookLog[]>(response);
    return { logs, nextBefore: response.headers.get('x-next-before') };
  }

  /** wahooks: deliver one logged event again (delivered or dead-lettered, not pending). */
  async redeliver(webhookId: string, logId: string): Promise<{ success: boolean; logId: string; message: string }> {
    return this.request('POST', `/webhooks/${segment(webhookId)}/logs/${segment(logId)}/redeliver`);
  }

  /** wahooks: deliver every dead-lettered event of the webhook again. */
  async redeliverFailed(webhookId: string): Promise<{ success: boolean; count: number }> {
    return this.request('POST', `/webhooks/${segment(webhookId)}/redeliver-failed`);
  }

  /**
   * wahooks: a new signing secret, in this answer only; the old one keeps signing for
   * `overlapSeconds` (default 24 h, at most 7 days, 0 ends it at once).
   */
  async rotateSecret(
    webhookId: string,
    options: { overlapSeconds?: number } = {},
  ): Promise<RotatedSecret> {
    const body = options.overlapSeconds === undefined ? {} : { overlapSeconds: options.overlapSeconds };
    return this.request('POST', `/webhooks/${segment(webhookId)}/rotate-secret`, { body });
  }

  /** wahooks: the endpoint's health: last success and failure, 24 h success rate, consecutive
   * dead letters, why the server disabled it, and the deliveries it holds. */
  async getWebhookHealth(webhookId: string): Promise<WebhookHealth> {
    return this.request('GET', `/webhooks/${segment(webhookId)}/health`);
  }

  /** wahooks: one delivery with every attempt and its detail. */
  async getWebhookLog(webhookId: string, logId: string): Promise<WebhookLog> {
    return this.request('GET', `/webhooks/${segment(webhookId)}/logs/${segment(logId)}`);
  }

  /** wahooks: deliver again, in event order, the dead letters with event times in
   * [since, until) (until: now) that never succeeded; at most 14 days and 10,000 deliveries. */
  async recover(webhookId: string, since: string, until?: string): Promise<{ success: boolean; count: number }> {
    return this.request('POST', `/webhooks/${segment(webhookId)}/recover`, { body: { since, until } });
  }

  // ---

  private async post<T>(connectionId: string, route: string, body: unknown): Promise<T> {
    return this.request('POST', `/connections/${segment(connectionId)}/${route}`, { body });
  }

  private async request<T>(method: string, path: string, call: Call = {}): Promise<T> {
    return answer<T>(await this.fetch(method, this.url(path, call.query), call.body));
  }

  private url(path: string, query: Query = {}): string {
    const url = new URL(`${this.baseUrl}/api${path}`);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  private async fetch(method: string, url: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': `wahooks-js/${VERSION}`,
    };
    // An empty "Bearer " is not a valid header; health checks need none.
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    return fetch(url, {
      method,
      headers,
      // JSON.stringify leaves out undefined values: an option not given is not sent.
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: this.timeoutMs > 0 ? AbortSignal.timeout(this.timeoutMs) : undefined,
    });
  }
}

/** The parsed JSON of a 2xx answer (null when empty); a WAHooksError for any other. */
async function answer<T>(response: Response): Promise<T> {
  if (!response.ok) throw await failure(response);
  return (await parsed(response)) as T;
}

async function failure(response: Response): Promise<WAHooksError> {
  const data = await parsed(response);
  let message: unknown = (data as { message?: unknown } | null)?.message;
  // NestJS answers validation failures with a list of messages.
  if (Array.isArray(message)) message = message.join('; ');
  const text = typeof message === 'string' && message ? message : response.statusText || `HTTP ${response.status}`;
  return new WAHooksError(text, response.status, data);
}

async function parsed(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** An id as one path segment: a chat id such as `123@c.us` stays readable, a `/` cannot escape. */
function segment(id: string): string {
  return encodeURIComponent(id).replace(/%40/g, '@');
}
