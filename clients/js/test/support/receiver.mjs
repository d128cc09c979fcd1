// The README's Express receiver, run for real: it keeps the raw body with express.raw(),
// verifies each delivery with verifySignature, and records what it saw. Listens on 127.0.0.1
// on a free port; `next()` resolves with the next delivery (verified or not), in arrival order.
import express from 'express';
import { SignatureVerificationError, verifySignature } from 'wahooks';

export async function startReceiver(secret = null) {
  const deliveries = [];
  const waiting = [];
  const record = (delivery) => {
    const waiter = waiting.shift();
    if (waiter) waiter(delivery);
    else deliveries.push(delivery);
  };

  const app = express();
  // --- as in the README (secret from the test instead of process.env) ---
  app.post('/webhook', express.raw({ type: 'application/json' }), (req, res) => {
    try {
      verifySignature(req.body, req.headers, receiver.secret);
    } catch (error) {
      if (!(error instanceof SignatureVerificationError)) throw error;
      record({ verified: false, error, headers: req.headers });
      return res.status(401).send(error.message);
    }
    const event = JSON.parse(req.body.toString('utf8'));
    record({ verified: true, event, raw: req.body, headers: req.headers });
    res.sendStatus(200);
  });
  // ---

  const server = await new Promise((done) => {
    const listening = app.listen(0, '127.0.0.1', () => done(listening));
  });
  const receiver = {
    secret,
    url: `http://127.0.0.1:${server.address().port}/webhook`,
    next: () => new Promise((done) => (deliveries.length ? done(deliveries.shift()) : waiting.push(done))),
    close: () => {
      server.closeAllConnections();
      return new Promise((done) => server.close(done));
    },
  };
  return receiver;
}
