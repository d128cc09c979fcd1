// The event types against the WAHA fixtures in ../shared/fixtures/waha/ (and the test event in
// fixtures/wahooks/): each fixture must fit its type once string literals are widened (JSON
// imports type every string as `string`).
import message from '../../../../../shared/fixtures/waha/message.json' with { type: 'json' };
import messageImage from '../../../../../shared/fixtures/waha/message.image.json' with { type: 'json' };
import messageGroup from '../../../../../shared/fixtures/waha/message.group.json' with { type: 'json' };
import messageAny from '../../../../../shared/fixtures/waha/message.any.json' with { type: 'json' };
import messageAck from '../../../../../shared/fixtures/waha/message.ack.json' with { type: 'json' };
import messageAckRead from '../../../../../shared/fixtures/waha/message.ack.read.json' with { type: 'json' };
import sessionStatus from '../../../../../shared/fixtures/waha/session.status.json' with { type: 'json' };
import sessionFailed from '../../../../../shared/fixtures/waha/session.status.failed.json' with { type: 'json' };
import presence from '../../../../../shared/fixtures/waha/presence.update.json' with { type: 'json' };
import testEvent from '../../../../../shared/fixtures/wahooks/test-event.json' with { type: 'json' };
import type {
  WebhookEvent,
  WebhookMessageAckEvent,
  WebhookMessageAnyEvent,
  WebhookMessageEvent,
  WebhookPresenceUpdateEvent,
  WebhookSessionStatusEvent,
  WebhookTestEvent,
} from 'wahooks';

type Widen<T> = T extends string
  ? string
  : T extends readonly (infer U)[]
    ? Widen<U>[]
    : T extends object
      ? { [K in keyof T]: Widen<T[K]> }
      : T;

export const fits: [
  Widen<WebhookMessageEvent>[],
  Widen<WebhookMessageAnyEvent>,
  Widen<WebhookMessageAckEvent>[],
  Widen<WebhookSessionStatusEvent>[],
  Widen<WebhookPresenceUpdateEvent>,
  Widen<WebhookTestEvent>,
] = [
  [message, messageImage, messageGroup],
  messageAny,
  [messageAck, messageAckRead],
  [sessionStatus, sessionFailed],
  presence,
  testEvent,
];

/** Narrowing on `event`, as a receiver would. */
export function describe(event: WebhookEvent): string {
  switch (event.event) {
    case 'message':
    case 'message.any':
      return `${event.payload.from}: ${event.payload.body} (${event.payload.ackName})`;
    case 'message.ack':
      return `${event.payload.id} ${event.payload.ackName}`;
    case 'session.status':
      return event.payload.status;
    case 'presence.update':
      return event.payload.presences.map((p) => p.lastKnownPresence).join();
    case 'test':
      return event.payload.message;
  }
}
