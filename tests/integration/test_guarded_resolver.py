"""The connector refuses at connect time, and the receiver never sees a byte.

A real aiohttp server listens on 127.0.0.1; a real ClientSession built with `make_connector` posts
to it. Where a test needs DNS answers of its choosing (rebinding, private names), the event loop's
getaddrinfo answers from a table: that is the system resolver's seam, the one both aiohttp's
ThreadedResolver and the create-time check call, so everything above it runs for real. Only
127.0.0.1 is ever connected to.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from wahooks.delivery.targets import (
    GuardedResolver,
    TargetPolicy,
    TargetRefused,
    make_connector,
    refusal_reason,
)

STRICT = TargetPolicy(allow_private=False)
OPEN = TargetPolicy(allow_private=True)
SLOW = "slow"


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.requests = 0


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that counts every request that reaches it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    state = Receiver(sock.getsockname()[1])

    async def handle(request: web.Request) -> web.Response:
        state.requests += 1
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield state
    finally:
        await runner.cleanup()
        sock.close()


async def post(policy: TargetPolicy, url: str) -> int:
    """POST the way the sender does: guarded connector, no redirects, no proxy from the env."""
    connector = make_connector(policy, limit=10, limit_per_host=0)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(url, data=b"{}", allow_redirects=False) as response,
    ):
        await response.read()
        return response.status


async def refused_post(policy: TargetPolicy, url: str) -> tuple[BaseException, str]:
    try:
        await post(policy, url)
    except aiohttp.ClientError as exc:
        reason = refusal_reason(exc)
        assert reason is not None, f"not a refusal: {exc!r}"
        return exc, reason
    raise AssertionError(f"POST {url} was not refused")


class StaticDNSLoop(asyncio.SelectorEventLoop):
    """An event loop whose getaddrinfo answers from `table` (name -> addresses, or SLOW)."""

    def __init__(self, table: dict[str, list[str] | str]) -> None:
        super().__init__()
        self.table = table
        self.lookups: list[str] = []

    async def getaddrinfo(  # type: ignore[override]
        self,
        host: str,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]]:
        self.lookups.append(host)
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer == SLOW:
            await asyncio.sleep(60)
        infos = []
        for address in answer:
            v6 = ":" in address
            af = socket.AF_INET6 if v6 else socket.AF_INET
            if family in (0, af):
                sockaddr = (address, int(port or 0), 0, 0) if v6 else (address, int(port or 0))
                infos.append((af, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return infos


def run_with_dns(
    table: dict[str, list[str] | str], scenario: Callable[[], Coroutine[Any, Any, None]]
) -> StaticDNSLoop:
    loop = StaticDNSLoop(table)
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(scenario())
    return loop


def test_a_name_resolving_to_loopback_is_refused_before_any_byte_is_sent() -> None:
    async def scenario() -> None:
        async with receiver() as server:
            exc, reason = await refused_post(STRICT, f"http://localhost:{server.port}/hook")
            assert server.requests == 0
        assert isinstance(exc, aiohttp.ClientConnectorDNSError)
        assert "webhook host localhost resolves to 127.0.0.1, a loopback address" in reason
        assert "--allow-private-targets" in reason

    asyncio.run(scenario())


def test_allow_private_delivers_to_the_same_name() -> None:
    async def scenario() -> None:
        async with receiver() as server:
            assert await post(OPEN, f"http://localhost:{server.port}/hook") == 200
            assert server.requests == 1

    asyncio.run(scenario())


def test_ip_literal_hosts_are_refused_by_check_url_and_by_the_connector() -> None:
    async def scenario() -> None:
        async with receiver() as server:
            url = f"http://127.0.0.1:{server.port}/hook"
            # The sender checks the URL first (no I/O) ...
            with pytest.raises(TargetRefused, match="127.0.0.1 is a loopback address"):
                STRICT.check_url(url)
            # ... and the connector refuses even a sender that forgot: aiohttp never resolves
            # a literal, so the socket factory is what catches it.
            exc, reason = await refused_post(STRICT, url)
            assert server.requests == 0
        assert type(exc) is aiohttp.ClientConnectorError
        assert "webhook target 127.0.0.1 is a loopback address" in reason

    asyncio.run(scenario())


def test_ip_literal_hosts_are_delivered_with_allow_private() -> None:
    async def scenario() -> None:
        async with receiver() as server:
            url = OPEN.check_url(f"http://127.0.0.1:{server.port}/hook")
            assert await post(OPEN, url) == 200
            assert server.requests == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("[::ffff:127.0.0.1]", "IPv4-mapped IPv6 address embedding 127.0.0.1"),
        ("0x7f.1", "resolves to 127.0.0.1, a loopback address"),  # aiohttp hands it to getaddrinfo
        # aiohttp (3.14) rejects these as invalid URLs before connecting; older versions pass
        # them to the socket factory, which refuses what ipaddress cannot read as an address.
        ("127.000.000.001", None),
        ("2130706433", None),
    ],
)
def test_odd_spellings_of_loopback_never_reach_the_receiver(host: str, words: str | None) -> None:
    async def scenario() -> None:
        async with receiver() as server:
            url = f"http://{host}:{server.port}/hook"
            with pytest.raises(aiohttp.ClientError) as caught:
                await post(STRICT, url)
            assert server.requests == 0
        reason = refusal_reason(caught.value)
        if words is not None:
            assert reason is not None and words in reason
        else:
            assert reason is not None or isinstance(caught.value, aiohttp.InvalidUrlClientError)
        # Whatever aiohttp makes of it, check_url gives the sender the reason.
        with pytest.raises(TargetRefused, match="127.0.0.1, a loopback address"):
            STRICT.check_url(url)

    asyncio.run(scenario())


def test_dns_rebinding_after_creation_is_caught_at_connect_time() -> None:
    table: dict[str, list[str] | str] = {"hooks.example.test": ["8.8.8.8"]}

    async def scenario() -> None:
        async with receiver() as server:
            url = f"http://hooks.example.test:{server.port}/hook"
            # At create time the name points at a public address: accepted (nothing is sent).
            assert await STRICT.check_url_resolving(url) == url
            # Later the attacker re-points it at the loopback interface.
            table["hooks.example.test"] = ["127.0.0.1"]
            _, reason = await refused_post(STRICT, url)
            assert server.requests == 0
            assert "hooks.example.test resolves to 127.0.0.1, a loopback address" in reason
            # The same lookup feeds a permissive connector, which then really connects.
            assert await post(OPEN, url) == 200
            assert server.requests == 1

    loop = run_with_dns(table, scenario)
    assert loop.lookups.count("hooks.example.test") == 3


def test_resolver_drops_refused_addresses_and_keeps_the_public_ones() -> None:
    table: dict[str, list[str] | str] = {
        "mixed.test": ["127.0.0.1", "8.8.8.8", "fd00::1", "2606:4700::1111"],
        "inside.test": ["10.1.2.3", "fe80::1"],
    }

    async def scenario() -> None:
        resolver = GuardedResolver(STRICT)
        try:
            results = await resolver.resolve("mixed.test", 443, socket.AF_UNSPEC)
            assert [r["host"] for r in results] == ["8.8.8.8", "2606:4700::1111"]
            with pytest.raises(TargetRefused) as caught:
                await resolver.resolve("inside.test", 443, socket.AF_UNSPEC)
            assert "inside.test resolves to 10.1.2.3, a private (RFC 1918) address" in str(
                caught.value
            )
            assert isinstance(caught.value, OSError)  # so aiohttp wraps it as a connect error
            everything = await GuardedResolver(OPEN).resolve("mixed.test", 443, socket.AF_UNSPEC)
            assert len(everything) == 4
        finally:
            await resolver.close()

    run_with_dns(table, scenario)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (["10.0.0.5"], "resolves to 10.0.0.5, a private (RFC 1918) address"),
        (["8.8.8.8", "169.254.169.254"], "resolves to 169.254.169.254, a cloud metadata address"),
        (["::1"], "resolves to ::1, a loopback address"),
        (["100.64.3.4"], "carrier-grade NAT"),
    ],
)
def test_create_time_check_refuses_if_any_resolved_address_is_refused(
    answer: list[str], words: str
) -> None:
    async def scenario() -> None:
        with pytest.raises(TargetRefused) as caught:
            await STRICT.check_url_resolving("https://hooks.example.test/in")
        assert words in str(caught.value)
        assert str(caught.value).startswith("webhook URL host hooks.example.test ")
        # allow_private neither refuses nor spends time on a lookup.
        assert await OPEN.check_url_resolving("https://hooks.example.test/in")

    loop = run_with_dns({"hooks.example.test": answer}, scenario)
    assert loop.lookups == ["hooks.example.test"]


@pytest.mark.parametrize("answer", [["8.8.8.8", "2606:4700::1111"], None, SLOW])
def test_create_time_check_accepts_public_unresolvable_and_slow_names(
    answer: list[str] | str | None,
) -> None:
    table: dict[str, list[str] | str] = {} if answer is None else {"hooks.example.test": answer}

    async def scenario() -> None:
        url = "https://hooks.example.test/in"
        started = asyncio.get_running_loop().time()
        assert await STRICT.check_url_resolving(url, timeout=0.05) == url
        assert asyncio.get_running_loop().time() - started < 5

    run_with_dns(table, scenario)


def test_create_time_check_does_not_resolve_ip_literals_or_refused_names() -> None:
    async def scenario() -> None:
        assert await STRICT.check_url_resolving("http://8.8.8.8/") == "http://8.8.8.8/"
        with pytest.raises(TargetRefused, match="loopback name"):
            await STRICT.check_url_resolving("http://localhost/")

    loop = run_with_dns({}, scenario)
    assert loop.lookups == []
