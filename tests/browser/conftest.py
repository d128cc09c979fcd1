"""The browser tests' fixtures: one `wahooks serve` with a short retry schedule, Debian's Chromium
driven by Playwright, and a folder for the screenshots of every page."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from support.server import ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Three quick attempts, then a dead letter: retries are seen within a second.
RETRY_SCHEDULE = "0.2,0.2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    database = tmp_path_factory.mktemp("dashboard") / "wahooks.db"
    process = ServerProcess(database, env={"WAHOOKS_RETRY_SCHEDULE": RETRY_SCHEDULE})
    process.start()
    yield process
    process.stop()


def create_account(server: ServerProcess, name: str) -> str:
    """A second account, made with the operator CLI; its first token."""
    done = subprocess.run(
        [sys.executable, "-m", "wahooks.cli", "user", "create", "--name", name,
         "--database", str(server.database)],
        check=False, capture_output=True, text=True, timeout=60, env=server.env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def open_browser(
    playwright: Playwright, tmp_path: Path
) -> Iterator[Callable[..., BrowserContext]]:
    """Chromium on a new, empty profile per call (JavaScript on or off); all closed after."""
    opened: list[BrowserContext] = []

    def launch(*, javascript: bool = True) -> BrowserContext:
        profile = tmp_path / f"profile{len(opened)}"
        profile.mkdir()
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            java_script_enabled=javascript,
        )
        context.set_default_timeout(15_000)
        opened.append(context)
        return context

    yield launch
    for context in opened:
        context.close()


@pytest.fixture(scope="session")  # one folder for every module's screenshots
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots of the dashboard's pages: {folder}")
    return folder


@pytest.fixture
def shoot(screenshots: Path) -> Callable[[Page, str], None]:
    def save(page: Page, name: str) -> None:
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)

    return save
