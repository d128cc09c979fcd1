"""The deployment files shipped in deploy/ are valid as shipped."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
UNIT = ROOT / "deploy" / "wahooks.service"


def _verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # scripts/install installs systemd-analyze: a missing one is a broken setup, not a skip.
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: run scripts/install"
    unit = tmp_path / "wahooks.service"
    # verify checks that ExecStart's program exists: point it at this checkout's wahooks.
    here = Path(sys.executable).parent / "wahooks"
    unit.write_text(unit_text.replace("/opt/wahooks/bin/wahooks", str(here)))
    return subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_systemd_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    done = _verify(UNIT.read_text(), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout == "", done.stderr


def test_the_check_catches_a_broken_unit(tmp_path: Path) -> None:
    done = _verify(UNIT.read_text().replace("Type=exec", "Type=bogus"), tmp_path)
    assert "Failed to parse service type" in done.stderr


def test_the_unit_runs_wahooks_serve_on_the_state_directory() -> None:
    text = UNIT.read_text()
    assert "ExecStart=/opt/wahooks/bin/wahooks serve" in text
    assert "StateDirectory=wahooks" in text
    assert "WAHOOKS_DATABASE=/var/lib/wahooks/wahooks.db" in text
