"""Fixtures shared by every test suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The `shared` folder beside the repository, with fixtures described by its READMEs."""
    return Path(__file__).parents[1] / ".." / "shared"
