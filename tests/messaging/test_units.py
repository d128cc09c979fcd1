"""The pure parts of messaging: the presence pause, send answers' normalised id and timestamp,
and the message cursor."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from wahooks.api.routes.messaging import message_page, parse_cursor
from wahooks.engines.messages import split_message_id, with_id_and_timestamp
from wahooks.engines.presence import Presence
from wahooks.errors import BadRequest, Conflict, EngineUnavailable


@pytest.mark.parametrize(
    ("factor", "length", "draw", "seconds"),
    [
        (1.0, 0, 0.0, 1.0),
        (1.0, 20, 0.5, 3.0),          # 1000 + 1000 + 1000 ms
        (1.0, 1000, 1.0, 8.0),        # the typing part is capped at 5000 ms
        (0.5, 10, 0.0, 0.75),
        (0.0, 1000, 1.0, 0.0),
    ],
)
def test_the_presence_pause_is_the_originals(
    factor: float, length: int, draw: float, seconds: float
) -> None:
    assert Presence(factor).pause_seconds(length, draw) == pytest.approx(seconds)


class RecordingEngine:
    """Only what presence calls: the engine protocol's presence methods, recorded."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.failure = failure

    async def mark_read(self, connection: Any, chat_id: str) -> None:
        self.calls.append(f"seen {chat_id}")
        if self.failure is not None:
            raise self.failure

    async def set_typing(self, connection: Any, chat_id: str, typing: bool) -> None:
        self.calls.append(f"typing {typing}")


async def _presence(engine: RecordingEngine, slept: list[float]) -> None:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        engine.calls.append("pause")

    presence = Presence(1.0, rand=lambda: 0.25, sleep=sleep)
    await presence.before_send(engine, None, "1@c.us", 10)  # type: ignore[arg-type]


def test_presence_reads_types_pauses_and_stops_typing() -> None:
    engine, slept = RecordingEngine(), []  # type: RecordingEngine, list[float]
    asyncio.run(_presence(engine, slept))
    assert engine.calls == ["seen 1@c.us", "typing True", "pause", "typing False"]
    assert slept == [pytest.approx(2.0)]  # 1000 + 0.25 * 2000 + 10 * 50 ms


def test_presence_ignores_refusals_but_not_an_unreachable_engine() -> None:
    refused = RecordingEngine(Conflict("no"))
    asyncio.run(_presence(refused, []))
    assert refused.calls[-1] == "typing False"
    with pytest.raises(EngineUnavailable):
        asyncio.run(_presence(RecordingEngine(EngineUnavailable("down")), []))


@pytest.mark.parametrize(
    ("answer", "expected_id", "expected_timestamp"),
    [
        ({"key": {"remoteJid": "14155550123@s.whatsapp.net", "fromMe": True, "id": "3EB0AB"},
          "messageTimestamp": "1790000030", "status": "PENDING"},
         "true_14155550123@c.us_3EB0AB", 1790000030),
        ({"key": {"remoteJid": "1203@g.us", "fromMe": True, "id": "3EB0CD"},
          "messageTimestamp": {"low": 1790000031, "high": 0, "unsigned": True}},
         "true_1203@g.us_3EB0CD", 1790000031),
        ({"id": {"fromMe": True, "remote": "1@c.us", "id": "X", "_serialized": "true_1@c.us_X"},
          "timestamp": 1790000032}, "true_1@c.us_X", 1790000032),
        ({"id": "true_1@c.us_Y", "timestamp": 1790000033}, "true_1@c.us_Y", 1790000033),
    ],
)
def test_send_answers_get_a_normalised_id_and_timestamp(
    answer: dict[str, Any], expected_id: str, expected_timestamp: int
) -> None:
    normalised = with_id_and_timestamp(answer, "1@c.us")
    assert (normalised["id"], normalised["timestamp"]) == (expected_id, expected_timestamp)
    for key in answer:
        if key not in ("id", "timestamp"):
            assert normalised[key] == answer[key]


def test_an_answer_without_a_timestamp_gets_now() -> None:
    normalised = with_id_and_timestamp({}, "1@c.us")
    assert normalised["id"] is None
    assert abs(normalised["timestamp"] - time.time()) < 5


def test_message_ids_split() -> None:
    assert split_message_id("false_14155550123@c.us_3AC2_1@c.us") == (
        False, "14155550123@c.us", "3AC2")
    assert split_message_id("3AC2") is None
    assert split_message_id("maybe_1@c.us_X") is None


@pytest.mark.parametrize(
    ("before", "expected"),
    [(None, (None, 0)), ("", (None, 0)), ("1790000000", (1789999999, 0)),
     ("1790000000_3", (1790000000, 3))],
)
def test_cursors_parse(before: str | None, expected: tuple[int | None, int]) -> None:
    assert parse_cursor(before) == expected


@pytest.mark.parametrize("before", ["x", "1_x", "_1", "-5"])
def test_a_foreign_cursor_is_refused(before: str) -> None:
    with pytest.raises(BadRequest):
        parse_cursor(before)


def _messages(*stamps: int) -> list[dict[str, Any]]:
    return [{"id": str(n), "timestamp": stamp} for n, stamp in enumerate(stamps)]


def test_a_page_names_the_next_cursor_counting_messages_at_the_same_second() -> None:
    page = message_page(_messages(50, 40, 40, 30), 3, None, 0)
    assert page["nextBefore"] == "40_2"
    assert page["historyStartsAt"] is None
    again = message_page(_messages(40, 40, 40), 2, 40, 2)  # still within second 40
    assert again["nextBefore"] == "40_4"


def test_the_last_page_says_where_history_starts() -> None:
    assert message_page(_messages(40, 30), 3, None, 0) == {
        "messages": _messages(40, 30), "nextBefore": None, "historyStartsAt": 30}
    assert message_page([], 3, 10, 0)["historyStartsAt"] is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("14155550123", "14155550123@c.us"),
        ("+1 (415) 555-0123", "14155550123@c.us"),
        ("14155550123@s.whatsapp.net", "14155550123@c.us"),
        ("120363025246125486@g.us", "120363025246125486@g.us"),
        ("14155550123-1581234567@g.us", "14155550123-1581234567@g.us"),
        ("187654321098765@lid", "187654321098765@lid"),
        ("status@broadcast", "status@broadcast"),
    ],
)
def test_chat_ids_are_normalised(given: str, expected: str) -> None:
    from wahooks.api.message_bodies import chat_id_field

    errors: list[str] = []
    assert chat_id_field({"chatId": given}, errors) == expected and errors == []


@pytest.mark.parametrize(
    "given", [
        "1 415-555-0188@c.us", "bob@c.us", "14155550123@example.com", "@c.us", "x",
        # Digits of other scripts, and a newline inside: only ASCII digits, matched whole.
        "\u0661\u0664\u0661\u0665\u0665\u0665\u0660\u0661\u0662\u0663@c.us",
        "\uff11\uff14\uff11\uff15\uff15\uff15\uff10\uff11\uff12\uff13",
        "14155550123@c.us\nstatus@broadcast", "1415\n5550123",
    ]
)
def test_malformed_chat_ids_are_refused(given: str) -> None:
    from wahooks.api.message_bodies import chat_id_field

    errors: list[str] = []
    assert chat_id_field({"chatId": given}, errors) == ""
    assert errors and errors[0].startswith("chatId must be a WhatsApp chat id")


def test_the_cli_turns_a_formatted_phone_number_into_a_chat_id() -> None:
    from wahooks.cli.api_access import chat_id

    assert chat_id("+1 415-555-0188") == "14155550188@c.us"
    assert chat_id("120363025246125486@g.us") == "120363025246125486@g.us"
