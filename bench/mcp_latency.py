"""What an MCP tool call costs next to the REST call it makes, over both transports.

    .venv/bin/python bench/mcp_latency.py [--calls 200]

Starts a fresh `wahooks serve` (SQLite), then times, one call after another: `GET /api/me` over
HTTP (the REST baseline), the `get_account` tool (which makes that very call) over `/mcp` and over
`wahooks mcp` (stdio), and the first `/mcp` request of the server's life (it loads the MCP package).
Prints medians and 95th percentiles and never asserts: timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.mcp_client import mcp_session  # noqa: E402
from support.server import ServerProcess  # noqa: E402

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "bench", "version": "0"}},
}


def report(name: str, seconds: list[float]) -> None:
    ms = sorted(value * 1000 for value in seconds)
    p95 = ms[min(len(ms) - 1, round(len(ms) * 0.95))]
    print(f"  {name:<34} median {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   n={len(ms)}")


async def timed(calls: int, once: Callable[[], Awaitable[Any]]) -> list[float]:
    await once()  # warm-up
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await once()
        samples.append(time.perf_counter() - started)
    return samples


async def measure(server: ServerProcess, calls: int, tmp: Path) -> None:
    token = server.token or ""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as http:
        started = time.perf_counter()
        first = await http.post("/mcp", json=INITIALIZE)
        first.raise_for_status()
        print(f"  first /mcp request (loads MCP)     {1000 * (time.perf_counter() - started):7.1f} ms")
        report("REST GET /api/me", await timed(calls, lambda: http.get("/api/me")))
    for transport in ("http", "stdio"):
        report(f"MCP get_account over {transport}", await tool_calls(server, transport, calls, tmp))


async def tool_calls(server: ServerProcess, transport: str, calls: int, tmp: Path) -> list[float]:
    async with mcp_session(transport, server.base_url, server.token or "", tmp) as session:
        return await timed(calls, lambda: session.call_tool("get_account", {}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    calls = parser.parse_args().calls
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        server = ServerProcess(tmp / "wahooks.db").start()
        print(f"  server ready                       {1000 * (time.perf_counter() - started):7.1f} ms")
        try:
            asyncio.run(measure(server, calls, tmp))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
