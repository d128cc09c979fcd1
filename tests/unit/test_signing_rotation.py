"""The rotation and Standard Webhooks headers (docs/signatures.md): which secret signs which header,
and that `verify_signature` with a list of secrets verifies throughout."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from wahooks.signing import (
    SIGNATURE_HEADER,
    InvalidSignature,
    MissingSignatureHeaders,
    signature,
    signed_headers,
    signing_secret,
    standard_signature,
    standard_webhooks_secret,
    verify_signature,
)

OLD = signing_secret()
NEW = signing_secret()
BODY = b'{"event":"message","payload":{"body":"Hi \xf0\x9f\x91\x8b"}}'
NOW = 1_790_000_000
ID = "0193b0c4-0000-7000-8000-000000000001"


def overlap_headers() -> dict[str, str]:
    return signed_headers(NEW, "message", BODY, NOW, message_id=ID, previous_secret=OLD)


def test_during_the_overlap_the_legacy_header_is_the_old_secrets_and_the_list_has_both() -> None:
    headers = overlap_headers()

    assert headers[SIGNATURE_HEADER] == signature(OLD, NOW, BODY)
    assert headers["webhook-id"] == ID
    assert headers["webhook-timestamp"] == str(NOW)
    assert headers["webhook-signature"] == (
        f"{standard_signature(NEW, ID, NOW, BODY)} {standard_signature(OLD, ID, NOW, BODY)}"
    )


def test_standard_signature_is_the_specs_hmac_over_id_timestamp_body() -> None:
    digest = hmac.new(NEW.encode(), f"{ID}.{NOW}.".encode() + BODY, hashlib.sha256).digest()

    assert standard_signature(NEW, ID, NOW, BODY) == "v1," + base64.b64encode(digest).decode()


def test_without_rotation_both_headers_carry_the_one_secret() -> None:
    headers = signed_headers(NEW, "message", BODY, NOW, message_id=ID)

    assert headers[SIGNATURE_HEADER] == signature(NEW, NOW, BODY)
    assert headers["webhook-signature"] == standard_signature(NEW, ID, NOW, BODY)


@pytest.mark.parametrize("secrets", [[OLD], [NEW], [OLD, NEW], [NEW, OLD], OLD, NEW])
def test_any_known_secret_verifies_during_the_overlap(secrets: list[str] | str) -> None:
    verify_signature(BODY, overlap_headers(), secrets, now=NOW)


def test_a_secret_never_given_does_not_verify() -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, overlap_headers(), [signing_secret(), signing_secret()], now=NOW)


def test_after_the_overlap_only_the_new_secret_verifies() -> None:
    headers = signed_headers(NEW, "message", BODY, NOW, message_id=ID)

    verify_signature(BODY, headers, [OLD, NEW], now=NOW)
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, headers, OLD, now=NOW)


def test_a_tampered_body_fails_both_headers() -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(BODY + b" ", overlap_headers(), [OLD, NEW], now=NOW)


def test_the_standard_headers_alone_verify() -> None:
    headers = {k: v for k, v in overlap_headers().items() if not k.startswith("X-WAHooks")}

    verify_signature(BODY, headers, NEW, now=NOW)


def test_no_signature_header_at_all_is_missing_headers() -> None:
    headers = {"X-WAHooks-Timestamp": str(NOW), "webhook-signature": "v1,AAAA"}  # no webhook-id

    with pytest.raises(MissingSignatureHeaders):
        verify_signature(BODY, headers, NEW, now=NOW)


def test_an_empty_list_of_secrets_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        verify_signature(BODY, overlap_headers(), [], now=NOW)


def test_the_standard_webhooks_library_verifies_with_either_secret_in_its_form() -> None:
    import time

    now = int(time.time())  # the library checks the timestamp against the current time
    headers = signed_headers(NEW, "message", BODY, now, message_id=ID, previous_secret=OLD)

    for secret in (OLD, NEW):
        assert Webhook(standard_webhooks_secret(secret)).verify(BODY, headers) is not None
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_webhooks_secret(signing_secret())).verify(BODY, headers)


def test_the_standard_webhooks_secret_is_whsec_and_the_base64_of_the_secrets_text() -> None:
    assert standard_webhooks_secret(NEW) == "whsec_" + base64.b64encode(NEW.encode()).decode()
