"""Events WAHA posts to wahooks' ingest route, taken only when signed with their session's key.

No bearer token: an event is taken only when `X-Webhook-Hmac` is the HMAC-SHA512 of the raw body
under its session's key; anything else is 401 and nothing is stored. The original left this route
open to anyone. The event goes to the core's ingest path with its bytes untouched.

The signature is checked before the document is parsed: the key belongs to the session the event
names, so the session name is read from the raw bytes with a pattern (the first few
`"session": "<name>"` pairs, no JSON parse), each named session's key is tried, and only a body
that one of them signed is parsed, whose top-level `session` must then be that very session. A
forger's body costs one bounded scan and a few HMACs, never a parse. The route also caps the body
at `WAHOOKS_WAHA_MAX_EVENT_BYTES` (1 MiB by default; WAHA's events are small, media come as URLs).

Replays: a signed event must carry an `id` and a `timestamp` (milliseconds, as WAHA sends) within
`WAHOOKS_WAHA_EVENT_WINDOW` seconds of now (and at most FUTURE_SKEW ahead); its id is remembered
durably per session (the engine's `waha_event_ids` table, kept twice the window), so an event
replayed later, even after a restart, is acknowledged and not delivered again. The id is taken in
the transaction that stores the event: a crash between the two cannot leave it taken for an event
that was never stored (WAHA's retry would be refused and the event lost). An event without an
id is refused (400) rather than given an id derived from its bytes: WAHA always sends one, and a
derived id would take two identical events as one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Mapping
from typing import Any, NoReturn, Protocol

import orjson

from wahooks.engines.base import EngineEvent, EventSink
from wahooks.engines.waha.client import segment
from wahooks.engines.waha.sessions import WahaSessions
from wahooks.errors import BadRequest, Unauthorized, WahooksError
from wahooks.storage.records import ReplayKey, WahaSession

log = logging.getLogger(__name__)

BAD_SIGNATURE = "Invalid or missing X-Webhook-Hmac signature"
MAX_EVENT_BYTES = 1024 * 1024
EVENT_WINDOW = 24 * 3600.0
FUTURE_SKEW = 300.0  # seconds an event's timestamp may be ahead of our clock
PRUNE_EVERY = 3600.0  # seconds between two deletions of ids older than twice the window
SESSION_CANDIDATES = 4  # `"session": "..."` pairs tried, so a nested one cannot hide the real one
_SESSION_FIELD = re.compile(rb'"session"[ \t\r\n]*:[ \t\r\n]*"([A-Za-z0-9_.-]{1,128})"')


class EventIdStore(Protocol):
    """Event ids already taken, per session (the WAHA engine's own table; ingest takes them)."""

    async def prune_waha_events(self, before: float) -> int: ...


class SignedEvents:
    def __init__(
        self, sessions: WahaSessions, ids: EventIdStore, *, window: float = EVENT_WINDOW
    ) -> None:
        self._sessions = sessions
        self._ids = ids
        self.window = window
        self._sink: EventSink | None = None
        self._pruned_at: float | None = None

    def attach(self, sink: EventSink) -> None:
        self._sink = sink

    async def receive(self, raw: bytes, signature: str | None, algorithm: str | None) -> int:
        """An event WAHA posted: taken only when signed with its session's key. Returns how many
        events the core accepted (0 when the connection is deleted or the event was seen)."""
        if not signature or (algorithm and algorithm.lower() != "sha512"):
            raise Unauthorized(BAD_SIGNATURE)
        session, event = await self._verified(raw, signature)
        now = time.time()
        # WAHA retries an event whose answer it did not get, and a captured one could be
        # replayed: each event id is taken once, in the transaction that stores the event.
        key = ReplayKey(session.session_name, self._check_fresh(event, now), int(now * 1000))
        assert self._sink is not None, "engine not attached"
        ingested = await self._sink([EngineEvent(event, raw, replay_key=key)])
        if ingested.repeated:
            log.info("repeated WAHA event ignored",
                     extra={"action": "waha.duplicate", "session": session.session_name})
            return 0
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            await self._prune(now)
        if ingested.accepted and _linked_without_me(event):
            await self._fill_phone(session)
        return ingested.accepted

    async def _verified(self, raw: bytes, signature: str) -> tuple[WahaSession, dict[str, Any]]:
        """The session whose key signed these bytes and the event they hold; 401 otherwise.

        A WAHA event names its session at its top, and only that session's key can make it pass
        (`_parse_signed`), so a body that parses is checked against that key alone. Bytes that
        are not JSON, or name no session at the top, go through `_signer`, which says 401 for a
        signature no candidate's key made, and 400 for JSON that a session did sign."""
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            event = None
        if isinstance(event, dict) and isinstance(event.get("session"), str):
            name: str = event["session"]
            session = await self._sessions.named(name)
            if session is not None and signature_matches(raw, session.hmac_key, signature):
                return session, event
            _refused(name)
        session = await self._signer(raw, signature)
        return session, _parse_signed(raw, session.session_name)

    async def _signer(self, raw: bytes, signature: str) -> WahaSession:
        """The session whose key signed these bytes, among those the bytes name; 401 otherwise."""
        names: list[str] = []
        for found in _SESSION_FIELD.finditer(raw):
            name = found.group(1).decode("ascii")
            if name not in names:
                names.append(name)
            if len(names) == SESSION_CANDIDATES:
                break
        for name in names:
            session = await self._sessions.named(name)
            if session is not None and signature_matches(raw, session.hmac_key, signature):
                return session
        _refused(names[0] if names else None)

    def _check_fresh(self, event: Mapping[str, Any], now: float) -> str:
        event_id = event.get("id")
        if not isinstance(event_id, str) or not event_id or len(event_id) > 200:
            raise BadRequest("A WAHA event needs a string id (at most 200 characters)")
        stamp = event.get("timestamp")
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            raise BadRequest("A WAHA event needs a numeric timestamp (milliseconds)")
        age = now - stamp / 1000
        if age > self.window or age < -FUTURE_SKEW:
            raise BadRequest(
                f"The WAHA event's timestamp is outside the accepted window ({self.window:g} s"
                f" in the past, {FUTURE_SKEW:g} s ahead)"
            )
        return event_id

    async def _prune(self, now: float) -> None:
        """Ids older than twice the window: their events are refused by timestamp anyway."""
        self._pruned_at = now
        await self._ids.prune_waha_events(now - 2 * self.window)

    async def _fill_phone(self, session: WahaSession) -> None:
        """WORKING came without `me`: ask WAHA who is linked, for the connection's phone."""
        try:
            me = await self._sessions.client(session).call(
                "GET", f"/api/sessions/{segment(session.session_name)}/me"
            )
        except WahooksError as exc:
            log.warning("linked account unknown", extra={
                "action": "waha.me", "session": session.session_name, "error": exc.message})
            return
        if isinstance(me, dict):
            await self._sessions.observe(session.session_name, {"status": "WORKING", "me": me})


def _refused(session: str | None) -> NoReturn:
    log.warning("WAHA event refused", extra={
        "action": "waha.refused_event", "session": None if session is None else session[:60]})
    raise Unauthorized(BAD_SIGNATURE)


def _linked_without_me(event: Mapping[str, Any]) -> bool:
    payload, me = event.get("payload"), event.get("me")
    return (
        event.get("event") == "session.status"
        and isinstance(payload, Mapping)
        and payload.get("status") == "WORKING"
        and not (isinstance(me, Mapping) and isinstance(me.get("id"), str))
    )


def _parse_signed(raw: bytes, session_name: str) -> dict[str, Any]:
    """The signed body, parsed; its own `session` must be the one whose key signed it."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The WAHA event is not valid JSON") from None
    if not isinstance(event, dict) or event.get("session") != session_name:
        raise Unauthorized(BAD_SIGNATURE)
    return event


def signature_matches(raw: bytes, key: str, signature: str) -> bool:
    expected = hmac.new(key.encode(), raw, hashlib.sha512).hexdigest().encode()
    return hmac.compare_digest(expected, signature.strip().lower().encode("latin-1", "replace"))
