/**
 * The error every API call rejects with when the server answers with a non-2xx status, as in the
 * official SDK: `message` (the server's own, NestJS-style `message` when it sends one),
 * `statusCode` and the parsed `body`.
 */
export class WAHooksError extends Error {
  override readonly name = 'WAHooksError';

  constructor(
    message: string,
    public readonly statusCode: number,
    public readonly body: unknown,
  ) {
    super(message);
  }
}
