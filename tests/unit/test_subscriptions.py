"""The subscription rule both backends apply at ingest."""

from __future__ import annotations

import pytest

from wahooks.storage.subscriptions import Subscriber, subscribers_to


@pytest.mark.parametrize(
    ("events", "event_type", "expected"),
    [
        (("*",), "message", True),
        (("message",), "message", True),
        (("message", "presence.update"), "presence.update", True),
        (("message",), "message.any", False),  # exact names only: no prefixes
        (("message.*",), "message.any", False),  # nor patterns
        (("Message",), "message", False),
        ((), "message", False),
    ],
)
def test_a_webhook_gets_every_event_or_the_exact_names_it_lists(
    events: tuple[str, ...], event_type: str, expected: bool
) -> None:
    webhook = Subscriber("1", "http://127.0.0.1:9/a", "s", frozenset(events))
    assert subscribers_to([webhook], event_type) == ([webhook] if expected else [])


def test_subscribers_keep_their_order() -> None:
    everything = Subscriber("1", "http://127.0.0.1:9/a", "s", frozenset({"*"}))
    presence = Subscriber("2", "http://127.0.0.1:9/b", "s", frozenset({"presence.update"}))
    messages = Subscriber("3", "http://127.0.0.1:9/c", "s", frozenset({"message"}))
    assert subscribers_to([everything, presence, messages], "message") == [everything, messages]
