// Helpers for live-stream tests. The server subscribes a socket to the account's events only
// once it has checked the token, a moment after the socket opened: a message sent in between is
// not streamed. So `firstMessage` keeps sending sandbox messages until the stream hands one over;
// from then on every event reaches it, and `nextMessage` waits for a given one.
import { setTimeout as delay } from 'node:timers/promises';

export function opened(stream) {
  return new Promise((done) => (stream.onopen = done));
}

export function nextMessage(stream, body) {
  return new Promise((done) => {
    stream.onmessage = (event) => {
      if (event.event === 'message' && event.payload.body === body) done(event);
    };
  });
}

export async function firstMessage(stream, server, connectionId) {
  let arrived = null;
  const received = new Promise((done) => {
    stream.onmessage = (event) => {
      if (event.event === 'message' && String(event.payload.body).startsWith('probe ')) done(event);
    };
  });
  received.then((event) => (arrived = event));
  for (let n = 0; arrived === null; n += 1) {
    await server.inbound(connectionId, `probe ${n}`);
    await Promise.race([received, delay(250)]);
  }
  return arrived;
}
