"""The Flask receiver from the product page (Receive Webhooks -> Example server), kept as written.

Changes, all marked "test:": the secret and port from SIGNING_SECRET and PORT, the `app.run` that
serves it on 127.0.0.1, and one outcome line per request so the test can match every delivery to
its result.
"""

import hashlib
import hmac
import os
import sys

from flask import Flask, jsonify, request

app = Flask(__name__)
SIGNING_SECRET = os.environ["SIGNING_SECRET"]  # test: was "your-signing-secret"
PORT = int(os.environ.get("PORT", "5000"))  # test


@app.route("/webhook", methods=["POST"])
def webhook():
    # Verify signature
    signature = request.headers.get("X-WAHooks-Signature", "")
    timestamp = request.headers.get("X-WAHooks-Timestamp", "")
    body = request.get_data(as_text=True)
    expected = "sha256=" + hmac.new(
        SIGNING_SECRET.encode(),
        f"{timestamp}.{body}".encode(),
        hashlib.sha256,
    ).hexdigest()
    if not hmac.compare_digest(signature, expected):
        _outcome("Invalid signature", request.headers.get("X-WAHooks-Delivery"))  # test
        return "Invalid signature", 401
    # Process the event
    data = request.get_json()
    print(f"Received {data['event']}: {data.get('payload', {}).get('body')}")
    _outcome("verified", request.headers.get("X-WAHooks-Delivery"), data["event"])  # test
    return jsonify({"ok": True})


def _outcome(*words):  # test
    # One write, so the line stays whole however the server's threads interleave their prints.
    sys.stdout.write(" ".join(["outcome:", *map(str, words)]) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":  # test
    app.run(host="127.0.0.1", port=PORT)
