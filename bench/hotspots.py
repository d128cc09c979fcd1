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


def _function(frame: str) -> str:
    """`send (sender.py:57)` -> `send (sender.py)`: one entry per function, not per line."""
    return _LINE_NUMBER.sub(")", frame.strip())


def _thread(label: str) -> str:
    name = label.split(": ", 1)[1] if ": " in label else label
    return re.sub(r"_\d+$", "_*", name)  # pool threads: one entry for the pool


def summarize(path: Path, *, seconds: float, rate: int, top: int = 20) -> list[str]:
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        threads[_thread(thread)] += count
        if not frames:
            continue
        functions = [_function(frame) for frame in frames]
        own[functions[-1]] += count
        for function in set(functions):
            inclusive[function] += count
    total = sum(threads.values())
    if total == 0:
        return ["  (no samples)"]
    ticks = max(seconds * rate, 1.0)
    lines = [f"  {total} active samples over {seconds:.1f} s at {rate} Hz"
             f" (= {total / ticks:.2f} threads busy on average)", "  by thread:"]
    lines += [f"    {share(n, total)}  {n / ticks:5.2f} busy  {name}"
              for name, n in threads.most_common(8)]
    lines.append(f"  top {top} by self time (% of all active samples):")
    lines += [f"    {share(n, total)}  {name}" for name, n in own.most_common(top)]
    lines.append(f"  top {top} by inclusive time:")
    lines += [f"    {share(n, total)}  {name}" for name, n in inclusive.most_common(top)]
    return lines


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    print("\n".join(summarize(args.profile, seconds=args.seconds, rate=args.rate, top=args.top)))


if __name__ == "__main__":
    main()
