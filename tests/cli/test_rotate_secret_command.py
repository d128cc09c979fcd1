"""`wahooks webhooks rotate-secret WEBHOOK_ID [--overlap 24h]` against a real server."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from cli.conftest import Wahooks, parsed


def _webhook(wahooks: Wahooks) -> dict[str, str]:
    connection = parsed(wahooks("connections", "create", "--json"))
    created: dict[str, str] = parsed(wahooks(
        "webhooks", "create", connection["id"], "http://127.0.0.1:9/hook", "--json",
    ))
    return created


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(("overlap", "seconds"), [(None, 86400), ("90s", 90), ("30m", 1800),
                                                  ("2h", 7200), ("7d", 604800), ("0", 0)])
def test_rotation_prints_the_new_secret_and_the_overlap(
    wahooks: Wahooks, overlap: str | None, seconds: int
) -> None:
    webhook = _webhook(wahooks)
    extra = [] if overlap is None else ["--overlap", overlap]
    before = time.time()

    answer = parsed(wahooks("webhooks", "rotate-secret", webhook["id"], *extra, "--json"))

    assert answer["signingSecret"] != webhook["signingSecret"]
    assert abs(_seconds(answer["previousSecretExpiresAt"]) - (before + seconds)) < 30


def test_human_output_shows_the_secret_once(wahooks: Wahooks) -> None:
    webhook = _webhook(wahooks)

    result = wahooks("wh", "rotate-secret", webhook["id"], "--overlap", "1h")

    assert result.exit_code == 0, result.output
    flat = " ".join((result.stderr + result.stdout).replace("│", " ").split())
    assert f"Rotated the signing secret of webhook {webhook['id']}" in flat
    assert "New signing secret" in flat and "keeps signing until" in flat


@pytest.mark.parametrize("overlap", ["soon", "1.5h", "-1h", "h", ""])
def test_an_overlap_that_is_not_a_duration_is_refused_before_any_request(
    wahooks: Wahooks, overlap: str
) -> None:
    result = wahooks("webhooks", "rotate-secret", "00000000-0000-7000-8000-000000000000",
                     "--overlap", overlap)
    assert result.exit_code == 1
    assert "is not a duration" in result.stderr


def test_an_overlap_beyond_7_days_is_the_servers_400(wahooks: Wahooks) -> None:
    webhook = _webhook(wahooks)
    result = wahooks("webhooks", "rotate-secret", webhook["id"], "--overlap", "8d")
    assert result.exit_code == 1
    assert "overlapSeconds must be a whole number of seconds from 0 to 604800" in " ".join(
        result.stderr.replace("│", " ").split()
    )
