// Every method of the SDK, called as a TypeScript user would, with the types it answers.
import WebSocket from 'ws';
import {
  type Account,
  type ApiToken,
  type ApiTokenCreated,
  type Chat,
  type Connection,
  type Contact,
  type Media,
  type MessagePage,
  type Ordering,
  type Profile,
  type QRCode,
  type ScannableConnection,
  type SendResult,
  type WAHooksEvent,
  type WebhookConfig,
  type WebhookHealth,
  type WebhookLog,
  type WebhookLogPage,
  WAHooks,
  WAHooksError,
  WAHooksEventStream,
} from 'wahooks';

const client = new WAHooks({ apiKey: 'wh_x', baseUrl: 'http://127.0.0.1:3001' });
const c = 'connection-id';
const chat = '14155550123@c.us';

export async function everyMethod(): Promise<void> {
  const connections: Connection[] = await client.listConnections();
  const created: Connection = await client.createConnection();
  const named: Connection = await client.createConnection({ name: 'shop' });
  const scannable: ScannableConnection = await client.getOrCreateScannableConnection();
  await client.getOrCreateScannableConnection({ virginOnly: true });
  const one: Connection = await client.getConnection(c);
  const deleted: { success?: boolean } = await client.deleteConnection(c);
  const restarted: Connection = await client.restartConnection(c);
  const qr: { value: string } = await client.getQR(c);
  const raw: QRCode = await client.getQR(c, { format: 'raw' });
  const chats: Chat[] = await client.getChats(c);
  await client.getChats(c, { limit: 5, offset: 5 });
  const profile: Profile = await client.getProfile(c);

  const sent: SendResult = await client.sendMessage(c, chat, 'hi');
  await client.sendMessage(c, chat, 'hi', { skipPresence: true, replyTo: sent.id });
  await client.sendMessage(c, chat, 'hi', { skipPresence: undefined, replyTo: undefined });
  const reacted: { success: boolean } = await client.react(c, chat, sent.id, '👍');
  await client.markRead(c, chat);
  await client.startTyping(c, chat);
  await client.stopTyping(c, chat);
  await client.sendImage(c, chat, { url: 'https://x.example/a.jpg', caption: 'box', skipPresence: true });
  await client.sendDocument(c, chat, { data: 'AAAA', mimetype: 'application/pdf', filename: 'a.pdf' });
  await client.sendVideo(c, chat, { url: 'https://x.example/a.mp4' });
  await client.sendAudio(c, chat, { data: 'AAAA', mimetype: 'audio/ogg' });
  await client.sendLocation(c, chat, 52.52, 13.405, 'Shop', 'Main St 1', { skipPresence: true });
  await client.sendContact(c, chat, 'Jane', '+14155550100', { skipPresence: true });

  const webhooks: WebhookConfig[] = await client.listWebhooks(c);
  const webhook: WebhookConfig = await client.createWebhook(c, 'https://your-server.com/webhook', ['message', 'message.any']);
  const all: string = (await client.createWebhook(c, 'https://your-server.com/webhook')).signingSecret;
  await client.updateWebhook(webhook.id, { url: 'https://x.example/h', events: ['*'], active: false });
  const ordered: Ordering | undefined = (await client.createWebhook(c, 'https://x.example/o', ['*'], { ordering: 'chat' })).ordering;
  await client.updateWebhook(webhook.id, { ordering: ordered ?? 'none' });
  // @ts-expect-error not an ordering
  await client.updateWebhook(webhook.id, { ordering: 'fifo' });
  await client.deleteWebhook(webhook.id);
  const logs: WebhookLog[] = await client.getWebhookLogs(webhook.id);
  await client.getWebhookLogs(webhook.id, { status: 'failed', limit: 10, before: logs[0]?.id ?? '' });
  const tested: { success: boolean; logId: string } = await client.testWebhook(webhook.id);
  const webhookHealth: WebhookHealth = await client.getWebhookHealth(webhook.id);
  const disabledReason: 'gone' | 'failing' | null | undefined = webhook.disabledReason;

  const tokens: ApiToken[] = await client.listTokens();
  const token: ApiTokenCreated = await client.createToken('ci');
  const secret: string = token.token;
  await client.revokeToken(token.id);

  // wahooks' own
  const health: { status: string } = await client.health();
  const me: Account = await client.getMe();
  await client.renameConnection(c, 'store');
  await client.renameConnection(c, null);
  const page: MessagePage = await client.getMessages(c, chat, { limit: 20 });
  await client.getMessages(c, chat, { before: page.nextBefore ?? '' });
  const message = await client.getMessage(c, sent.id, chat);
  const edited: SendResult = await client.editMessage(c, message.id, chat, 'fixed');
  const url: string = client.getMediaUrl(c, sent.id, chat);
  const media: Media = await client.downloadMedia(c, sent.id, chat);
  const bytes: Uint8Array = media.data;
  const contacts: Contact[] = await client.getContacts(c, { limit: 10 });
  const picture: string | null = (await client.getProfilePicture(c, chat)).profilePictureUrl;
  const logPage: WebhookLogPage = await client.getWebhookLogsPage(webhook.id, { limit: 50 });
  const next: string | null = logPage.nextBefore;
  const redelivered: { logId: string } = await client.redeliver(webhook.id, tested.logId);
  const count: number = (await client.redeliverFailed(webhook.id)).count;

  void [connections, created, named, scannable, one, deleted, restarted, qr, raw, chats, profile, reacted];
  void [webhooks, all, tokens, secret, health, me, edited, url, bytes, contacts, picture, next, redelivered, count];
}

export function live(): WAHooksEventStream {
  const stream: WAHooksEventStream = client.listen({ webSocket: WebSocket, reconnectDelayMs: 1000, envelope: true });
  stream.onopen = () => undefined;
  stream.onmessage = (event: WAHooksEvent) => {
    const type: string = event.event;
    const connectionId: string = event.connectionId;
    void [type, connectionId, event.payload, event.timestamp, event.envelope];
  };
  stream.onerror = (error: Error) => {
    if (error instanceof WAHooksError) void error.statusCode;
  };
  stream.onclose = () => undefined;
  stream.close();
  const closed: boolean = stream.closed;
  void closed;
  // The official call, without options, where the runtime has a global WebSocket.
  return new WAHooks({ apiKey: 'wh_x', webSocket: WebSocket }).listen();
}

export async function errors(): Promise<void> {
  try {
    await client.listConnections();
  } catch (error) {
    if (error instanceof WAHooksError) {
      const status: number = error.statusCode;
      const text: string = error.message;
      const body: unknown = error.body;
      void [status, text, body];
    }
  }
}

export async function mistakes(): Promise<void> {
  // @ts-expect-error chatId is a string
  await client.sendMessage(c, 14155550123, 'hi');
  // @ts-expect-error the media options are required
  await client.sendImage(c, chat);
  // @ts-expect-error no such option
  await client.sendMessage(c, chat, 'hi', { skipPresense: true });
  // @ts-expect-error events is a list
  await client.createWebhook(c, 'https://x.example/h', 'message');
  // @ts-expect-error not a delivery status
  await client.getWebhookLogs('w', { status: 'done' });
  // @ts-expect-error the apiKey is required
  new WAHooks({ baseUrl: 'http://127.0.0.1:3001' });
}
