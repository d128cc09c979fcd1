"""The ingest routes answered inside the HTTP protocol, with no ASGI cycle in between.

A WAHA server posts one event per request, so the per-request cost of the HTTP layer is paid per
event. uvicorn's path builds an ASGI scope and a request cycle, runs the application as a task
that receives the body as a message, and writes the answer's head and body in two writes; that
machinery cost more than the event's own work (parsing, signature, storing). On this lane the
protocol matches the route itself once the head is complete, keeps the body as it arrives, runs
the route's handler (`InboundTable.run_read`: the same authentication, handler and error bodies as
`HotPath`) and writes the whole answer in one write.

Only the plain case takes the lane: a POST to a declared route with a Content-Length within the
route's limit, no `Expect: 100-continue`, no upgrade, no request of the connection still being
answered, and access logging off. Anything else (a chunked body, an oversized one, a pipelined
request behind another) goes the usual way, through `HotPath`, which answers the same routes the
same way. The answer of a lane request is itself the connection's "cycle" for uvicorn, so a
request pipelined behind it waits in uvicorn's queue and is started when this answer is complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from wahooks.api.hot_path import answer
from wahooks.api.http_limits import APP, HttpLimits, LimitedHttpToolsProtocol, limited_protocol
from wahooks.api.inbound import InboundTable, body_limit
from wahooks.engines.routes import InboundRoute

_ANSWER_HEADERS = b"content-type: application/json\r\naccess-control-allow-origin: *\r\n"


class _NoWaiter:
    """The cycle's `message_event` as uvicorn and the limits set it; nobody waits on a lane
    request's body (its handler starts once the body is complete)."""

    def set(self) -> None:
        pass


_NO_WAITER = _NoWaiter()


@dataclass(slots=True)
class LaneRequest:
    """A lane request while it is read and answered; the attributes uvicorn and the limits look
    at on a connection's current cycle have their meaning here."""

    route: InboundRoute
    path_params: dict[str, str]
    headers: list[tuple[bytes, bytes]]
    path: str
    keep_alive: bool
    body: bytearray = field(default_factory=bytearray)
    more_body: bool = True
    response_started: bool = False
    response_complete: bool = False
    disconnected: bool = False
    message_event: _NoWaiter = _NO_WAITER


def server_protocol(limits: HttpLimits, table: InboundTable) -> type[LaneHttpProtocol]:
    """The protocol class for uvicorn's `http=` option: the limits, and `table`'s routes on the
    lane. Its connections share one registry (the connection cap)."""
    class Configured(LaneHttpProtocol, limited_protocol(limits)):  # type: ignore[misc]
        _table = table

    return Configured


class LaneHttpProtocol(LimitedHttpToolsProtocol):
    _table: InboundTable

    def _start_request(self) -> None:
        lane = self._lane_request()
        if lane is None:
            super()._start_request()
            return
        self.cycle = lane  # type: ignore[assignment]  # what uvicorn checks before a pipelined one

    def _lane_request(self) -> LaneRequest | None:
        """The request as a lane request, when it may take the lane."""
        cycle = self.cycle
        parser = self.parser
        if (
            (cycle is not None and not cycle.response_complete)
            or self.expect_100_continue
            or self.access_log
            or parser.get_method() != b"POST"
            or parser.should_upgrade()
        ):
            return None
        raw_path, _, _ = self.url.partition(b"?")
        if b"%" in raw_path or not raw_path.isascii():
            return None  # uvicorn decodes such paths; the usual way does it the same
        path = raw_path.decode("ascii")
        matched = self._table.match(path)
        if matched is None:
            return None
        route, path_params = matched
        length = _content_length(self.headers)
        if length is None or length > body_limit(route):
            return None  # chunked or too large: read_body's rules and errors apply
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        return LaneRequest(route, path_params, self.headers, path, keep_alive)

    def on_body(self, body: bytes) -> None:
        lane = self._current_lane()
        if lane is not None:
            if not self._given_up:
                lane.body += body
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        lane = self._current_lane()
        if lane is not None and not lane.response_complete:
            if self._given_up:
                return
            lane.more_body = False
            self._stage = APP
            task = self.loop.create_task(self._answer(lane))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
            return
        super().on_message_complete()

    def _current_lane(self) -> LaneRequest | None:
        """The request being read, when it is on the lane."""
        cycle: object = self.cycle
        return cycle if type(cycle) is LaneRequest else None

    async def _answer(self, lane: LaneRequest) -> None:
        route = lane.route

        async def work() -> Any:
            return await self._table.run_read(
                route, lane.path_params, lane.headers, bytes(lane.body)
            )

        status, content = await answer(route.status_code, work, lane.path)
        if lane.disconnected or self.transport.is_closing():
            return
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += (_ANSWER_HEADERS, b"content-length: %d\r\n" % len(content))
        if not lane.keep_alive:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", content)
        lane.response_started = True
        self.transport.write(b"".join(head))
        lane.response_complete = True
        if not lane.keep_alive:
            self.transport.close()
        self.on_response_complete()


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The declared body length; None without one (chunked) or when it is not one number."""
    found = None
    for name, value in headers:
        if name == b"content-length":
            if found is not None or not value.isdigit():
                return None
            found = int(value)
        elif name == b"transfer-encoding":
            return None
    return found
