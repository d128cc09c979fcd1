"""The CLI's config file and QR drawing on their own."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from pathlib import Path

import pytest
import segno

from wahooks.cli.config_file import DEFAULT_API_URL, ClientConfig, ConfigError, config_path
from wahooks.cli.qr import png_bytes, terminal_qr


def test_the_config_path_follows_wahooks_config_or_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path() == tmp_path / ".wahooks.json"
    monkeypatch.setenv("WAHOOKS_CONFIG", str(tmp_path / "other.json"))
    assert config_path() == tmp_path / "other.json"


def test_a_missing_file_is_the_defaults_and_saving_is_private(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "deep" / "wahooks.json"
    monkeypatch.setenv("WAHOOKS_CONFIG", str(path))
    config = ClientConfig.load()
    assert (config.api_url, config.token) == (DEFAULT_API_URL, "")
    old_umask = os.umask(0)
    try:
        config.token = "wh_x"
        config.save()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"api_url": DEFAULT_API_URL, "token": "wh_x"}
    assert [p.name for p in path.parent.iterdir()] == ["wahooks.json"]  # no temporary left


@pytest.mark.parametrize("content", ["[1, 2]", "{nope", '"text"'])
def test_a_broken_file_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "wahooks.json"
    path.write_text(content)
    monkeypatch.setenv("WAHOOKS_CONFIG", str(path))
    with pytest.raises(ConfigError, match=str(path)):
        ClientConfig.load()


def test_a_qr_text_is_drawn_and_a_png_is_recognised() -> None:
    drawing = terminal_qr("wahooks-sandbox:u_1_s_2:abc")
    assert "█" in drawing and len(drawing.splitlines()) > 10
    png = io.BytesIO()
    segno.make("x").save(png, kind="png")
    assert png_bytes(base64.b64encode(png.getvalue()).decode()) == png.getvalue()
    assert png_bytes("wahooks-sandbox:u_1_s_2:abc") is None
    assert png_bytes(base64.b64encode(b"not a png").decode()) is None
