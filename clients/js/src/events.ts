/**
 * What a webhook receives: the WhatsApp engine's (WAHA's) event, unchanged, as the body of a
 * signed POST. Typed here for the events the product page lists (message, message.any,
 * message.ack, session.status, presence.update and the test event), from WAHA's documented
 * shapes (the NOWEB engine). Other WAHA events arrive in the same envelope; read them as
 * `WahaEvent<string, unknown>`. The `_data` fields are engine internals: never depend on them.
 */

export interface WahaMe {
  id: string;
  lid?: string;
  jid?: string;
  pushName: string;
}

/** The envelope every engine event shares. */
export interface WahaEvent<E extends string = string, P = unknown> {
  /** `evt_` and a lower-case ULID: the same in every delivery (and redelivery) of the event. */
  id: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
  event: E;
  /** The engine's session name (one per connection). */
  session: string;
  metadata?: Record<string, string>;
  /** The linked account; absent or null before the session works. */
  me?: WahaMe | null;
  payload: P;
  engine?: string;
  environment?: {
    version: string;
    engine: string;
    tier: string;
    browser: string | null;
    platform?: string;
    worker?: { id: string | null };
  };
}

export interface WahaMedia {
  url: string | null;
  mimetype: string | null;
  filename: string | null;
  error: unknown;
}

export interface WahaLocation {
  latitude: number | string;
  longitude: number | string;
  description?: string | null;
  [key: string]: unknown;
}

export interface WahaReplyTo {
  id: string;
  participant?: string | null;
  body?: string | null;
  [key: string]: unknown;
}

/** 0 PENDING, 1 SERVER, 2 DEVICE, 3 READ, 4 PLAYED, -1 ERROR */
export type AckName = 'ERROR' | 'PENDING' | 'SERVER' | 'DEVICE' | 'READ' | 'PLAYED';

export interface WahaMessage {
  /** `{fromMe}_{chat}_{id}`, e.g. `false_14155550123@c.us_3AC22AE73E797638455D` */
  id: string;
  /** Unix seconds. */
  timestamp: number;
  from: string;
  fromMe: boolean;
  /** `app` (sent from the phone) or `api` */
  source?: string;
  body: string;
  /** null for direct messages; the group for group messages. */
  to: string | null;
  /** The sender within a group, else null. */
  participant: string | null;
  hasMedia: boolean;
  media: WahaMedia | null;
  /** Deprecated by WAHA; `media.url` replaces it. */
  mediaUrl?: string;
  ack: number;
  ackName: AckName | string;
  location: WahaLocation | null;
  vCards: string[];
  replyTo: WahaReplyTo | null;
  _data?: unknown;
}

export interface WahaMessageAck {
  id: string;
  from: string;
  to: string | null;
  participant: string | null;
  fromMe: boolean;
  ack: number;
  ackName: AckName | string;
  _data?: unknown;
}

export type SessionStatus =
  | 'STOPPED'
  | 'STARTING'
  | 'SCAN_QR_CODE'
  | 'WORKING'
  | 'FAILED'
  | 'PASSKEY_REQUIRED'
  | 'PASSKEY_CONFIRMATION_REQUIRED';

export interface WahaSessionStatus {
  name: string;
  status: SessionStatus;
  /** The last few statuses, oldest first, with millisecond timestamps. */
  statuses?: { status: SessionStatus; timestamp: number }[];
  data?: unknown;
}

export type Presence = 'online' | 'offline' | 'typing' | 'recording' | 'paused';

export interface WahaPresenceUpdate {
  /** The chat. */
  id: string;
  presences: { participant: string; lastKnownPresence: Presence; lastSeen: number | null }[];
}

/** An incoming message (`message`). */
export type WebhookMessageEvent = WahaEvent<'message', WahaMessage>;
/** Any message, incoming or your own, sent from the phone or the API (`message.any`). */
export type WebhookMessageAnyEvent = WahaEvent<'message.any', WahaMessage>;
/** A delivery or read receipt for one of your messages (`message.ack`). */
export type WebhookMessageAckEvent = WahaEvent<'message.ack', WahaMessageAck>;
/** The connection's session changed status (`session.status`). */
export type WebhookSessionStatusEvent = WahaEvent<'session.status', WahaSessionStatus>;
/** A contact is online, typing, recording... (`presence.update`). */
export type WebhookPresenceUpdateEvent = WahaEvent<'presence.update', WahaPresenceUpdate>;

/** What `testWebhook` delivers. */
export interface WebhookTestEvent {
  event: 'test';
  session: 'test';
  payload: { message: string; timestamp: string };
}

/** The events the product page lists; switch on `event` to narrow. */
export type WebhookEvent =
  | WebhookMessageEvent
  | WebhookMessageAnyEvent
  | WebhookMessageAckEvent
  | WebhookSessionStatusEvent
  | WebhookPresenceUpdateEvent
  | WebhookTestEvent;

export type WebhookEventType = WebhookEvent['event'];
