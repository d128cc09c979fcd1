// The CommonJS entry point has the same surface and types.
import wahooks = require('wahooks');

const client: wahooks.WAHooks = new wahooks.WAHooks({ apiKey: 'wh_x' });
export async function secret(connectionId: string): Promise<string> {
  const webhook: wahooks.WebhookConfig = await client.createWebhook(connectionId, 'https://your-server.com/webhook');
  return webhook.signingSecret;
}
export function verify(raw: Buffer, headers: Record<string, string | string[] | undefined>): boolean {
  try {
    wahooks.verifySignature(raw, headers, ['old-secret', 'new-secret'], { toleranceSeconds: 60 });
    return true;
  } catch (error) {
    if (error instanceof wahooks.SignatureVerificationError) return false;
    throw error;
  }
}
