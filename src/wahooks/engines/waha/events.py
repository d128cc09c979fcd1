"""Events WAHA posts to wahooks' ingest route, taken only when signed with their session's key.

No bearer token: an event is taken only when `X-Webhook-Hmac` is the HMAC-SHA512 of the raw body
under its session's key; anything else is 401 and nothing is stored. The original left this route
open to anyone. The event goes to the core's ingest path with its bytes untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any

import orjson

from wahooks.engines.base import EngineEvent, EventSink
from wahooks.engines.waha.client import segment
from wahooks.engines.waha.sessions import WahaSessions
from wahooks.errors import Unauthorized, WahooksError
from wahooks.storage.records import WahaSession

log = logging.getLogger(__name__)

BAD_SIGNATURE = "Invalid or missing X-Webhook-Hmac signature"
RECENT_EVENT_IDS = 100_000  # event ids remembered against retries and replays (~10 MB)


class SignedEvents:
    def __init__(self, sessions: WahaSessions) -> None:
        self._sessions = sessions
        self._sink: EventSink | None = None
        self._recent_ids: dict[str, None] = {}  # insertion-ordered: the oldest goes first

    def attach(self, sink: EventSink) -> None:
        self._sink = sink

    async def receive(self, raw: bytes, signature: str | None, algorithm: str | None) -> int:
        """An event WAHA posted: taken only when signed with its session's key. Returns how many
        events the core accepted (0 when the connection is deleted)."""
        if not signature or (algorithm and algorithm.lower() != "sha512"):
            raise Unauthorized(BAD_SIGNATURE)
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Unauthorized(BAD_SIGNATURE) from None
        name = event.get("session") if isinstance(event, dict) else None
        session = await self._sessions.named(name) if isinstance(name, str) else None
        if session is None or not signature_matches(raw, session.hmac_key, signature):
            log.warning(
                "WAHA event refused",
                extra={"action": "waha.refused_event", "session": str(name)[:60],
                       "known": session is not None},
            )
            raise Unauthorized(BAD_SIGNATURE)
        event_id = event.get("id")
        if isinstance(event_id, str) and event_id in self._recent_ids:
            # WAHA retries an event whose answer it did not get (and a captured one could be
            # replayed): each event id is taken once.
            log.info("repeated WAHA event ignored",
                     extra={"action": "waha.duplicate", "session": session.session_name})
            return 0
        assert self._sink is not None, "engine not attached"
        accepted = await self._sink([EngineEvent(event, raw)])
        # Remembered only once stored: if storing failed, WAHA's retry must get through.
        self._remember_id(event_id)
        if accepted and _linked_without_me(event):
            await self._fill_phone(session)
        return accepted

    def _remember_id(self, event_id: object) -> None:
        if not isinstance(event_id, str) or not event_id:
            return
        self._recent_ids[event_id] = None
        if len(self._recent_ids) > RECENT_EVENT_IDS:
            del self._recent_ids[next(iter(self._recent_ids))]

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


def _linked_without_me(event: Mapping[str, Any]) -> bool:
    payload, me = event.get("payload"), event.get("me")
    return (
        event.get("event") == "session.status"
        and isinstance(payload, Mapping)
        and payload.get("status") == "WORKING"
        and not (isinstance(me, Mapping) and isinstance(me.get("id"), str))
    )


def signature_matches(raw: bytes, key: str, signature: str) -> bool:
    expected = hmac.new(key.encode(), raw, hashlib.sha512).hexdigest().encode()
    return hmac.compare_digest(expected, signature.strip().lower().encode("latin-1", "replace"))
