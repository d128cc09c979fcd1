"""Read a `py-spy record --format raw --threads` file: where a process spent its active samples.

    python bench/hotspots.py PROFILE.txt [--seconds S --rate R]

Each line is `thread (tid): name;frame;frame;... count`, outermost frame first, and holds only
samples where the thread was running (py-spy leaves idle samples out by default). Self time is
charged to the innermost frame; inclusive time to every distinct function on the stack.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE_NUMBER = re.compile(r":\d+\)$")
# Frames every sample of a thread sits under: runpy, click, uvicorn's start-up, thread start.
_BOILERPLATE = re.compile(
    r"\((<frozen runpy>|click/core\.py|uvicorn/(main|server|_compat)\.py|wahooks/cli\.py)\)$"
    r"|^Thread\.(_bootstrap|_bootstrap_inner|run) "
)


# Innermost frames of threads that wait for work on a queue: py-spy counts some of these samples as
# active (seen here on the SQLite reader pool, which ran no read at all during a burst), so they
# are left out of the shares and reported apart. The writer's own loop does nothing else between
# batches (its work is in _run_batch, a frame further in).
_WAITING = re.compile(
    r"^(_worker \(concurrent/futures/thread\.py"
    r"|SqliteDatabase\._write_loop \(wahooks/storage/sqlite/database\.py)"
)


def _function(frame: str) -> str:
    """`send (sender.py:57)` -> `send (sender.py)`: one entry per function, not per line."""
    return _LINE_NUMBER.sub(")", frame.strip())


# Which stage of wahooks' pipeline a main-thread sample belongs to, judged by the frames above the
# event loop; first match wins.
_STAGES = (
    ("delivery: dispatcher, sender, aiohttp client",
     re.compile(r"Dispatcher\.|OutcomeWriter\.|LeaseUpkeep\.|Sender\.|aiohttp/")),
    ("ingest API: uvicorn, FastAPI, route, engine, ingest",
     re.compile(r"run_asgi|uvicorn/|fastapi/|starlette/|anyio/|wahooks/|sqlite")),
)


def _stage(thread: str, functions: list[str]) -> str:
    """Threads count whole; on the main thread, the pipeline stage the event loop was running,
    or the loop itself (uvloop's C code: polling, socket reads and writes, scheduling)."""
    if thread != "MainThread":
        return f"thread {thread}"
    loop = next((i for i, f in enumerate(functions) if f.startswith("Runner.run ")), -1)
    above = ";".join(functions[loop + 1 :])
    if not above:
        return "event loop itself (uvloop)"
    for name, pattern in _STAGES:
        if pattern.search(above):
            return name
    return "other"


def _package(function: str) -> str:
    """`send (wahooks/delivery/sender.py)` -> `wahooks`; `wait (threading.py)` -> `threading.py`."""
    where = function.rsplit("(", 1)[-1].rstrip(")")
    return where.split("/", 1)[0]


def _thread(label: str) -> str:
    name = label.split(": ", 1)[1] if ": " in label else label
    return re.sub(r"_\d+$", "_*", name)  # pool threads: one entry for the pool


def summarize(path: Path, *, seconds: float, rate: int, top: int = 20,
              us_per_event: float | None = None) -> list[str]:
    """The profile's summary; with `us_per_event` (the process's CPU per event, measured apart),
    each share is also shown as µs per event: active samples are CPU time, split the same way."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    waiting = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        if frames and _WAITING.search(frames[-1].strip()):
            waiting += count
            continue
        threads[_thread(thread)] += count
        if not frames:
            packages["(no Python frame)"] += count
            continue
        functions = [_function(frame) for frame in frames]
        own[functions[-1]] += count
        stages[_stage(_thread(thread), functions)] += count
        packages[_package(functions[-1])] += count
        for function in set(functions):
            if not _BOILERPLATE.search(function):
                inclusive[function] += count
    total = sum(threads.values())
    if total == 0:
        return ["  (no samples)"]

    def share(part: int, whole: int) -> str:
        percent = f"{100 * part / whole:5.1f}%"
        if us_per_event is None:
            return percent
        return f"{percent} {us_per_event * part / whole:6.1f} us/event"

    ticks = max(seconds * rate, 1.0)
    lines = [f"  {total} active samples over {seconds:.1f} s at {rate} Hz"
             f" (= {total / ticks:.2f} threads busy on average); left out: {waiting} samples of"
             " threads waiting on a work queue, which py-spy counted active", "  by thread:"]
    lines += [f"    {share(n, total)}  {n / ticks:5.2f} busy  {name}"
              for name, n in threads.most_common(8)]
    lines.append("  by pipeline stage (main thread) and by thread (the others):")
    lines += [f"    {share(n, total)}  {name}" for name, n in stages.most_common()]
    lines.append("  by package of the innermost frame (self time):")
    lines += [f"    {share(n, total)}  {name}" for name, n in packages.most_common(10)]
    lines.append(f"  top {top} by self time (% of all active samples):")
    lines += [f"    {share(n, total)}  {name}" for name, n in own.most_common(top)]
    lines.append(f"  top {top} by inclusive time (py-spy stacks of resumed coroutines are often"
                 " partial: these undercount):")
    lines += [f"    {share(n, total)}  {name}" for name, n in inclusive.most_common(top)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--us-per-event", type=float,
                        help="the process's CPU µs per event, to show each share in µs")
    args = parser.parse_args()
    print("\n".join(summarize(args.profile, seconds=args.seconds, rate=args.rate, top=args.top,
                               us_per_event=args.us_per_event)))


if __name__ == "__main__":
    main()
