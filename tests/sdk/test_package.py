"""The SDK as a package: its public names, its typing marker, what importing it costs, and
method-for-method parity with the official PyPI `wahooks` 0.11.0 client."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import wahooks
import wahooks.client
from wahooks import AsyncWAHooks, WAHooks

# (click and rich are left out: httpx itself imports them when they are installed.)
SERVER_PACKAGES = {"fastapi", "starlette", "uvicorn", "aiohttp", "orjson", "pydantic",
                   "pydantic_settings", "websockets", "segno", "asyncpg"}

# The official 0.11.0 client's methods and their parameters (name, kind, default).
P, K = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
E = inspect.Parameter.empty
OFFICIAL: dict[str, list[tuple[str, object, object]]] = {
    "list_connections": [],
    "create_connection": [],
    "get_or_create_scannable_connection": [("virgin_only", P, False)],
    "get_connection": [("connection_id", P, E)],
    "delete_connection": [("connection_id", P, E)],
    "restart_connection": [("connection_id", P, E)],
    "get_qr": [("connection_id", P, E)],
    "get_chats": [("connection_id", P, E), ("limit", K, None), ("offset", K, None),
                  ("unread_only", K, False)],
    "get_messages": [("connection_id", P, E), ("chat_id", P, E), ("limit", K, 50),
                     ("before", K, None)],
    "get_message": [("connection_id", P, E), ("message_id", P, E), ("chat_id", P, E)],
    "get_media_url": [("connection_id", P, E), ("message_id", P, E), ("chat_id", P, E)],
    "get_contacts": [("connection_id", P, E), ("limit", K, None), ("offset", K, None)],
    "edit_message": [("connection_id", P, E), ("message_id", P, E), ("chat_id", P, E),
                     ("text", P, E)],
    "get_profile": [("connection_id", P, E)],
    "send_message": [("connection_id", P, E), ("chat_id", P, E), ("text", P, E),
                     ("skip_presence", K, False), ("reply_to", K, None)],
    "react": [("connection_id", P, E), ("chat_id", P, E), ("message_id", P, E),
              ("reaction", P, E)],
    "mark_read": [("connection_id", P, E), ("chat_id", P, E)],
    "start_typing": [("connection_id", P, E), ("chat_id", P, E)],
    "stop_typing": [("connection_id", P, E), ("chat_id", P, E)],
    "send_image": [("connection_id", P, E), ("chat_id", P, E), ("url", K, None),
                   ("data", K, None), ("mimetype", K, None), ("caption", K, None),
                   ("skip_presence", K, False)],
    "send_document": [("connection_id", P, E), ("chat_id", P, E), ("url", K, None),
                      ("data", K, None), ("mimetype", K, None), ("filename", K, None),
                      ("caption", K, None), ("skip_presence", K, False)],
    "send_video": [("connection_id", P, E), ("chat_id", P, E), ("url", K, None),
                   ("data", K, None), ("mimetype", K, None), ("caption", K, None),
                   ("skip_presence", K, False)],
    "send_audio": [("connection_id", P, E), ("chat_id", P, E), ("url", K, None),
                   ("data", K, None), ("mimetype", K, None), ("skip_presence", K, False)],
    "send_location": [("connection_id", P, E), ("chat_id", P, E), ("latitude", P, E),
                      ("longitude", P, E), ("name", P, None), ("address", P, None),
                      ("skip_presence", P, False)],
    "send_contact": [("connection_id", P, E), ("chat_id", P, E), ("contact_name", P, E),
                     ("contact_phone", P, E), ("skip_presence", P, False)],
    "listen": [("on_event", P, None)],
    "list_webhooks": [("connection_id", P, E)],
    "create_webhook": [("connection_id", P, E), ("url", P, E), ("events", P, None)],
    "update_webhook": [("webhook_id", P, E), ("kwargs", inspect.Parameter.VAR_KEYWORD, E)],
    "delete_webhook": [("webhook_id", P, E)],
    "get_webhook_logs": [("webhook_id", P, E)],
    "test_webhook": [("webhook_id", P, E)],
    "list_tokens": [],
    "create_token": [("name", P, E)],
    "revoke_token": [("token_id", P, E)],
    "get_billing_status": [],
    "set_slots": [("quantity", P, E)],
}


def test_the_public_names_are_sorted_and_all_exported() -> None:
    assert wahooks.__all__ == sorted(wahooks.__all__)
    assert wahooks.client.__all__ == sorted(wahooks.client.__all__)
    assert set(wahooks.__all__) <= set(wahooks.client.__all__)
    for name in wahooks.__all__:
        assert getattr(wahooks, name) is getattr(wahooks.client, name)
        assert name in dir(wahooks)
    with pytest.raises(AttributeError):
        _ = wahooks.NotAThing  # type: ignore[attr-defined]


def test_the_package_ships_its_typing_marker() -> None:
    assert (Path(wahooks.__file__).parent / "py.typed").is_file()


def test_importing_the_client_pulls_in_no_server_dependency() -> None:
    check = (
        "import sys, wahooks, wahooks.client; from wahooks import WAHooks, verify_signature;"
        f" loaded = sorted({{m.split('.')[0] for m in sys.modules}} & {SERVER_PACKAGES!r});"
        " assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("client_class", [WAHooks, AsyncWAHooks])
@pytest.mark.parametrize("method", sorted(OFFICIAL))
def test_every_official_method_takes_the_official_parameters(
    client_class: type, method: str
) -> None:
    parameters = list(inspect.signature(getattr(client_class, method)).parameters.values())[1:]
    official = OFFICIAL[method]
    got = [(p.name, p.kind, p.default) for p in parameters[: len(official)]]
    assert got == official
    # Anything beyond the official parameters is a keyword-only extra with a default.
    for extra in parameters[len(official):]:
        assert extra.kind is K and extra.default is not E, extra


def test_the_constructor_matches_the_official_one() -> None:
    for client_class in (WAHooks, AsyncWAHooks):
        parameters = inspect.signature(client_class).parameters
        assert list(parameters)[:2] == ["api_key", "base_url"]
        assert parameters["base_url"].default == "https://api.wahooks.com"
