"""Which source tree a benchmark's wahooks processes run: this checkout, or another one (a git
worktree of an older commit with its own .venv, made by `scripts/install`) to compare against in
the same sitting. Only the server comes from the other checkout; receivers, load generators, the
fake WAHA and the figures are this checkout's, so both are measured with the same instruments.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.server import ServerProcess  # noqa: E402

HERE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Checkout:
    label: str
    root: Path

    @property
    def python(self) -> str:
        return sys.executable if self.root == HERE else str(self.root / ".venv" / "bin" / "python")

    def describe(self) -> str:
        try:
            head = subprocess.run(["git", "-C", str(self.root), "log", "-1", "--format=%h %s"],
                                  capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            head = "(not a git checkout)"
        return f"{self.label}: {self.root} at {head[:90]}"

    def server(self, database: Path | str, *, env: Mapping[str, str] | None = None,
               role: str = "all") -> ServerProcess:
        """A `wahooks serve` of this checkout, not started."""
        return _CheckoutServer(self.python, database, env=env, role=role)


THIS = Checkout("this", HERE)


def baseline(path: str) -> Checkout:
    root = Path(path).resolve()
    if not (root / ".venv" / "bin" / "python").exists():
        raise SystemExit(f"--baseline {root}: no .venv there; run `bash scripts/install` in it first")
    return Checkout("baseline", root)


class _CheckoutServer(ServerProcess):
    """ServerProcess, started with another checkout's interpreter (its .venv has its wahooks)."""

    def __init__(self, python: str, database: Path | str, *, env: Mapping[str, str] | None,
                 role: str) -> None:
        super().__init__(database, env=env, role=role)
        self._interpreter = python

    def _python(self) -> list[str]:
        return [self._interpreter]
