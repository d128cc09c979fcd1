"""Human-like presence before a send, as the original does unless `skipPresence` is true.

sendSeen -> startTyping -> pause 1000 + rand*2000 + min(length*50, 5000) ms -> stopTyping -> send,
where length is the text's length for a text message and 20 otherwise. Accounts that answer
instantly, every time, look like bots to WhatsApp; the pause is the point. `factor` scales it (1 =
the original's timing, 0 = no pause, for tests and the sandbox). A presence call WAHA refuses is
ignored, as the original ignores them; an unreachable engine is not, since the send would fail too.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wahooks.engines.base import Engine
from wahooks.errors import EngineUnavailable, WahooksError
from wahooks.models import Connection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Presence:
    factor: float
    rand: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def pause_seconds(self, length: int, draw: float) -> float:
        """The original's pause for a message of `length` characters and a uniform `draw`."""
        millis = 1000 + draw * 2000 + min(length * 50, 5000)
        return self.factor * millis / 1000

    async def before_send(
        self, engine: Engine, connection: Connection, chat_id: str, length: int
    ) -> None:
        await self._quietly(engine.mark_read(connection, chat_id))
        await self._quietly(engine.set_typing(connection, chat_id, True))
        pause = self.pause_seconds(length, self.rand())
        if pause > 0:
            await self.sleep(pause)
        await self._quietly(engine.set_typing(connection, chat_id, False))

    @staticmethod
    async def _quietly(call: Awaitable[None]) -> None:
        try:
            await call
        except EngineUnavailable:
            raise
        except WahooksError as exc:
            log.info("presence call refused", extra={"action": "presence", "error": exc.message})
