"""One signed POST of one delivery attempt: the only place wahooks talks to receivers.

Signature and timestamp are computed per attempt over the exact bytes sent. Redirects are not
followed: a 3xx is a failed attempt, because following one would let a receiver point wahooks at an
address the target policy refused.
"""

from __future__ import annotations

import time

from wahooks.clock import now_ms
from wahooks.delivery.http_client import HttpClient
from wahooks.delivery.http_response import (
    ConnectionClosed,
    ConnectRefused,
    DnsLookupFailed,
    HttpClientError,
    HttpResponse,
    RequestTimeout,
    ResponseHeadTooLarge,
    TlsHandshakeFailed,
)
from wahooks.delivery.retry import parse_retry_after
from wahooks.delivery.targets import TargetPolicy, TargetRefused
from wahooks.models import (
    KEPT_RESPONSE_HEADERS,
    RESPONSE_BODY_BYTES,
    AttemptOutcome,
    DeliveryJob,
    ErrorClass,
    SentRequest,
)
from wahooks.signing import SIGNATURE_HEADER, STANDARD_SIGNATURE_HEADER, signed_headers
from wahooks.version import __version__

_ERROR_BODY_CHARS = 500


class Sender:
    def __init__(self, policy: TargetPolicy, *, timeout: float) -> None:
        self._policy = policy
        self._timeout = timeout
        self._client: HttpClient | None = None

    async def start(self) -> None:
        self._client = HttpClient(
            self._policy, max_response_bytes=4 * _ERROR_BODY_CHARS,
            user_agent=f"wahooks/{__version__}",
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def send(self, job: DeliveryJob) -> AttemptOutcome:
        """Make the attempt; never raises: every failure becomes an outcome with an error text
        and an error class."""
        assert self._client is not None, "sender not started"
        started_at = now_ms()
        clock = time.perf_counter()
        sent_at = time.time()
        expires_at = job.previous_secret_expires_at
        # The secret a rotation replaced signs while its overlap lasts (docs/signatures.md).
        overlapping = expires_at is not None and sent_at * 1000 < expires_at
        previous = job.previous_secret if overlapping else None
        timestamp = int(sent_at)
        headers = signed_headers(
            job.signing_secret, job.event_type, job.body, timestamp,
            message_id=job.delivery_id, previous_secret=previous,
        )
        headers["X-WAHooks-Delivery"] = job.delivery_id
        headers["X-WAHooks-Attempt"] = str(job.attempt)
        request = None
        try:
            # What the attempt's log shows of the request (the rest is rebuilt from the delivery:
            # wahooks.storage.request_headers); refuses a URL as post() would, before any send.
            request = SentRequest(
                timestamp, headers[SIGNATURE_HEADER], headers[STANDARD_SIGNATURE_HEADER],
                self._client.host_header(job.url), self._client.user_agent,
            )
            response = await self._client.post(
                job.url, job.body, list(headers.items()), timeout=self._timeout
            )
        except Exception as exc:  # a receiver must never be able to crash the dispatcher
            error, error_class = self._failure(exc)
            return AttemptOutcome(
                started_at, _elapsed(clock), None, error, error_class, request=request
            )
        return _answered(started_at, _elapsed(clock), response, request)

    def _failure(self, exc: Exception) -> tuple[str, ErrorClass]:
        """The attempt's error text (as stored and shown in the logs) and its class."""
        if isinstance(exc, TargetRefused):
            # Not final: the name may resolve to an allowed address by the next attempt.
            return (f"refused: {exc} (the safe-targets policy; retried on the schedule, as DNS"
                    " may change)"), ErrorClass.TARGET_REFUSED
        if isinstance(exc, RequestTimeout):
            return f"timeout: no response within {self._timeout:g} s", ErrorClass.TIMEOUT
        if isinstance(exc, HttpClientError):
            return f"connection error: {_short(str(exc))}", _connection_error_class(exc)
        return f"error: {_short(str(exc) or repr(exc))}", ErrorClass.OTHER


def _answered(
    started_at: int, duration_ms: float, response: HttpResponse, request: SentRequest
) -> AttemptOutcome:
    status = response.status
    body = response.body[:RESPONSE_BODY_BYTES].decode("utf-8", "replace") or None
    kept = tuple(
        (name.lower(), value) for name, value in response.headers
        if name.lower() in KEPT_RESPONSE_HEADERS
    )
    if 200 <= status < 300:
        return AttemptOutcome(
            started_at, duration_ms, status, None, response_body=body, response_headers=kept,
            request=request,
        )
    if 300 <= status < 400:
        location = response.header("Location") or ""
        error = f"HTTP {status}: redirect to {location!r} not followed"
    else:
        error = f"HTTP {status}: {_short(response.body.decode('utf-8', 'replace'))}"
    retry_after = parse_retry_after(response.header("Retry-After"), time.time())
    return AttemptOutcome(
        started_at, duration_ms, status, error, ErrorClass.HTTP_STATUS, retry_after, body, kept,
        request,
    )


_CONNECTION_ERROR_CLASSES: tuple[tuple[type[HttpClientError], ErrorClass], ...] = (
    (DnsLookupFailed, ErrorClass.DNS),
    (ConnectRefused, ErrorClass.CONNECT_REFUSED),
    (TlsHandshakeFailed, ErrorClass.TLS),
    (ConnectionClosed, ErrorClass.CONNECT_RESET),
    (ResponseHeadTooLarge, ErrorClass.RESPONSE_TOO_LARGE),
)


def _connection_error_class(exc: HttpClientError) -> ErrorClass:
    for kind, error_class in _CONNECTION_ERROR_CLASSES:
        if isinstance(exc, kind):
            return error_class
    return ErrorClass.OTHER  # unreachable host, malformed answer, client closed


def _elapsed(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)


def _short(text: str) -> str:
    return text[:_ERROR_BODY_CHARS]
