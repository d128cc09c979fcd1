import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SIGNING_SECRET = os.environ["SIGNING_SECRET"].encode()
PORT = int(os.environ.get("PORT", "3000"))


class Webhook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers.get("X-WAHooks-Timestamp", "")
        signed = f"{timestamp}.".encode() + body
        expected = "sha256=" + hmac.new(SIGNING_SECRET, signed, hashlib.sha256).hexdigest()
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300
        if not fresh or not hmac.compare_digest(expected, self.headers.get("X-WAHooks-Signature", "")):
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)
        print(f"Received {event['event']}: {event.get('payload', {}).get('body')}", flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')


HTTPServer(("127.0.0.1", PORT), Webhook).serve_forever()
