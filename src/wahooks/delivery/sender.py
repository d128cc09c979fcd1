"""One signed POST of one delivery attempt: the only place wahooks talks to receivers.

Signature and timestamp are computed per attempt over the exact bytes sent. Redirects are not
followed: a 3xx is a failed attempt, because following one would let a receiver point wahooks at an
address the target policy refused.
"""

from __future__ import annotations

import time

from wahooks.clock import now_ms
from wahooks.delivery.http_client import HttpClient
from wahooks.delivery.http_response import HttpClientError, RequestTimeout
from wahooks.delivery.targets import TargetPolicy, TargetRefused
from wahooks.models import AttemptOutcome, DeliveryJob
from wahooks.signing import signed_headers
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
        """Make the attempt; never raises: every failure becomes an outcome with an error text."""
        assert self._client is not None, "sender not started"
        started_at = now_ms()
        clock = time.perf_counter()
        headers = signed_headers(job.signing_secret, job.event_type, job.body, int(time.time()))
        headers["X-WAHooks-Delivery"] = job.delivery_id
        headers["X-WAHooks-Attempt"] = str(job.attempt)
        try:
            response = await self._client.post(
                job.url, job.body, list(headers.items()), timeout=self._timeout
            )
        except TargetRefused as exc:
            return AttemptOutcome(started_at, _elapsed(clock), None, f"refused: {exc}")
        except RequestTimeout:
            return AttemptOutcome(
                started_at, _elapsed(clock), None,
                f"timeout: no response within {self._timeout:g} s",
            )
        except HttpClientError as exc:
            return AttemptOutcome(
                started_at, _elapsed(clock), None, f"connection error: {_short(str(exc))}"
            )
        except Exception as exc:  # a receiver must never be able to crash the dispatcher
            return AttemptOutcome(
                started_at, _elapsed(clock), None, f"error: {_short(str(exc) or repr(exc))}"
            )
        status = response.status
        error = None
        if 300 <= status < 400:
            location = response.header("Location") or ""
            error = f"HTTP {status}: redirect to {location!r} not followed"
        elif not 200 <= status < 300:
            error = f"HTTP {status}: {_short(response.body.decode('utf-8', 'replace'))}"
        return AttemptOutcome(started_at, _elapsed(clock), status, error)


def _elapsed(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)


def _short(text: str) -> str:
    return text[:_ERROR_BODY_CHARS]
