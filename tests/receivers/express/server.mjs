// The Express receiver from the product page (Receive Webhooks -> Example server), kept as written.
// Changes, all marked "test:": plain JavaScript instead of TypeScript (`as string` dropped), the
// secret and port from SIGNING_SECRET and PORT, listening on 127.0.0.1 only, and one outcome line
// per request so the test can match every delivery to its result.
import express from 'express';
import { createHmac } from 'crypto';
const app = express();
app.use(express.json());
const SIGNING_SECRET = process.env.SIGNING_SECRET; // test: was 'your-signing-secret'
app.post('/webhook', (req, res) => {
  // Verify signature
  const signature = req.headers['x-wahooks-signature'];
  const timestamp = req.headers['x-wahooks-timestamp'];
  const body = JSON.stringify(req.body);
  const expected = 'sha256=' + createHmac('sha256', SIGNING_SECRET)
    .update(`${timestamp}.${body}`)
    .digest('hex');
  if (signature !== expected) {
    console.log('outcome: Invalid signature', req.headers['x-wahooks-delivery']); // test
    return res.status(401).send('Invalid signature');
  }
  // Process the event
  const { event, payload } = req.body;
  console.log(`Received ${event}:`, payload.body);
  console.log('outcome: verified', req.headers['x-wahooks-delivery'], event); // test
  res.sendStatus(200);
});
app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1'); // test: was app.listen(3000)
