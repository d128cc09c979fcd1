export { WAHooks, DEFAULT_BASE_URL } from './client.js';
export { WAHooksError } from './errors.js';
export { WAHooksEventStream, NO_WEBSOCKET_MESSAGE } from './stream.js';
export type { WAHooksEvent, ListenOptions, WebSocketConstructor, WebSocketLike } from './stream.js';
export {
  DEFAULT_TOLERANCE_SECONDS,
  EVENT_HEADER,
  InvalidSignature,
  MissingSignatureHeaders,
  SIGNATURE_HEADER,
  SignatureVerificationError,
  TIMESTAMP_HEADER,
  TimestampOutsideTolerance,
  computeSignature,
  standardWebhooksSecret,
  verifySignature,
} from './signature.js';
export type { HeadersInput, RawBody, VerifyOptions } from './signature.js';
export type * from './types.js';
export type * from './events.js';
export { VERSION } from './version.js';
