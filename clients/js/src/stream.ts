/**
 * Live events over the API's WebSocket (`/api/ws?token=...`), as the official SDK's
 * `WAHooksEventStream`: set `onmessage`, `onerror`, `onopen` and `onclose`, call `close()` to stop.
 * It reconnects by itself whenever the connection drops (after 5 s, as the original), except when
 * the server refuses the token (close code 4001 or 4003): retrying cannot help then, so the stream
 * stops and `onerror` receives a WAHooksError with statusCode 401.
 *
 * It uses the runtime's global WebSocket (browsers, Deno, Bun, Node.js 22+, Node.js 20 with
 * --experimental-websocket) or the class given as `webSocket`, such as the `ws` package's.
 */

import { WAHooksError } from './errors.js';

/** A live event as the server sends it. */
export interface WAHooksEvent {
  event: string;
  connectionId: string;
  payload: unknown;
  timestamp: string;
  /** wahooks: the whole event as webhooks receive it, when listening with `envelope: true`. */
  envelope?: unknown;
}

/**
 * The part of the WebSocket API the stream uses; the global WebSocket and `ws` both fit. The
 * handlers take `any` because each implementation names its event classes differently.
 */
export interface WebSocketLike {
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ListenOptions {
  /** The WebSocket class to use instead of the global one (e.g. `import WebSocket from 'ws'`). */
  webSocket?: WebSocketConstructor | undefined;
  /** Wait this long before reconnecting (default 5000 ms, as the official SDK). */
  reconnectDelayMs?: number | undefined;
  /** Add each event's whole webhook body to its frame, as `envelope`. */
  envelope?: boolean | undefined;
}

export const RECONNECT_DELAY_MS = 5000;
const REFUSED_TOKEN_CODES = new Set([4001, 4003]);

export const NO_WEBSOCKET_MESSAGE =
  'listen() needs a WebSocket implementation and this runtime has no global WebSocket ' +
  '(Node.js before 22). Install the ws package (npm install ws) and pass it: ' +
  "import WebSocket from 'ws'; client.listen({ webSocket: WebSocket }) " +
  "(or new WAHooks({ apiKey, webSocket: WebSocket })). Node.js 22+ needs nothing, " +
  'nor does Node.js 20 run with --experimental-websocket.';

/** The WebSocket class to use: the one given, else the global one; a clear error when neither. */
export function resolveWebSocket(given?: WebSocketConstructor): WebSocketConstructor {
  const found = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof found !== 'function') throw new Error(NO_WEBSOCKET_MESSAGE);
  return found;
}

export class WAHooksEventStream {
  onmessage?: (event: WAHooksEvent) => void;
  onerror?: (error: Error) => void;
  onopen?: () => void;
  onclose?: () => void;

  private ws: WebSocketLike | null = null;
  private stopped = false;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly reconnectDelayMs: number;

  constructor(
    private readonly url: string,
    options: ListenOptions = {},
  ) {
    this.WebSocketClass = resolveWebSocket(options.webSocket);
    this.reconnectDelayMs = options.reconnectDelayMs ?? RECONNECT_DELAY_MS;
    this.connect();
  }

  /** True once `close()` was called or the server refused the token: no reconnection follows. */
  get closed(): boolean {
    return this.stopped;
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.ws?.close();
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new this.WebSocketClass(this.url);
    this.ws = ws;
    ws.onopen = () => this.onopen?.();
    ws.onmessage = (message: { data: unknown }) => this.deliver(message.data);
    ws.onerror = (event: { message?: unknown; error?: unknown }) => {
      const detail = event?.error instanceof Error ? event.error.message : event?.message;
      this.onerror?.(new Error(detail ? `WebSocket error: ${String(detail)}` : 'WebSocket error'));
    };
    ws.onclose = (event: { code: number; reason: string }) => this.closedBy(event);
  }

  private deliver(data: unknown): void {
    try {
      const text = typeof data === 'string' ? data : new TextDecoder().decode(data as Uint8Array);
      this.onmessage?.(JSON.parse(text) as WAHooksEvent);
    } catch (error) {
      // A bad frame or a throwing handler is reported and the stream goes on, as the original.
      this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private closedBy(event: { code: number; reason: string }): void {
    this.ws = null;
    if (!this.stopped && REFUSED_TOKEN_CODES.has(event.code)) {
      this.stopped = true;
      const reason = event.reason || (event.code === 4001 ? 'Missing token' : 'Invalid token');
      this.onerror?.(new WAHooksError(reason, 401, { code: event.code, reason }));
    }
    this.onclose?.();
    if (!this.stopped) {
      this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectDelayMs);
    }
  }
}
