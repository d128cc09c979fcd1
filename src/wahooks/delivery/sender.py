"""One signed POST of one delivery attempt: the only place wahooks talks to receivers.

Signature and timestamp are computed per attempt over the exact bytes sent. Redirects are not
followed: a 3xx is a failed attempt, because following one would let a receiver point wahooks at an
address the target policy refused (and the original product's fetch-based sender was an SSRF risk).
"""

from __future__ import annotations

import time

import aiohttp

from wahooks import __version__
from wahooks.clock import now_ms
from wahooks.delivery.targets import TargetPolicy, TargetRefused, make_connector, refusal_reason
from wahooks.models import AttemptOutcome, DeliveryJob
from wahooks.signing import signed_headers

_ERROR_BODY_CHARS = 500


class Sender:
    def __init__(self, policy: TargetPolicy, *, timeout: float, max_connections: int) -> None:
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = make_connector(self._policy, limit=self._max_connections, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={"User-Agent": f"wahooks/{__version__}"},
            skip_auto_headers=("Accept-Encoding",),
            auto_decompress=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, job: DeliveryJob) -> AttemptOutcome:
        """Make the attempt; never raises: every failure becomes an outcome with an error text."""
        assert self._session is not None, "sender not started"
        started_at = now_ms()
        clock = time.perf_counter()
        try:
            self._policy.check_url(job.url)  # IP-literal hosts never reach the resolver
            headers = signed_headers(
                job.signing_secret, job.event_type, job.body, int(time.time())
            )
            headers["X-WAHooks-Delivery"] = job.delivery_id
            headers["X-WAHooks-Attempt"] = str(job.attempt)
            async with self._session.post(
                job.url, data=job.body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                error = None
                if not 200 <= status < 300:
                    text = await response.content.read(_ERROR_BODY_CHARS * 4)
                    detail = text.decode("utf-8", "replace")[:_ERROR_BODY_CHARS]
                    error = f"HTTP {status}: {detail}"
                    if 300 <= status < 400:
                        location = response.headers.get("Location", "")
                        error = f"HTTP {status}: redirect to {location!r} not followed"
            return AttemptOutcome(started_at, _elapsed(clock), status, error)
        except TargetRefused as exc:
            return AttemptOutcome(started_at, _elapsed(clock), None, f"refused: {exc}")
        except TimeoutError:
            seconds = self._timeout.total
            return AttemptOutcome(
                started_at, _elapsed(clock), None, f"timeout: no response within {seconds:g} s"
            )
        except aiohttp.ClientError as exc:
            reason = refusal_reason(exc)
            message = f"refused: {reason}" if reason else f"connection error: {_describe(exc)}"
            return AttemptOutcome(started_at, _elapsed(clock), None, message)
        except Exception as exc:  # a receiver must never be able to crash the dispatcher
            return AttemptOutcome(started_at, _elapsed(clock), None, f"error: {_describe(exc)}")


def _elapsed(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:_ERROR_BODY_CHARS]
