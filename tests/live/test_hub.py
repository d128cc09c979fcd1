"""The live-events hub on its own: routing per account, frame shapes, bounded queues."""

from __future__ import annotations

import asyncio
import json
import re

from wahooks.live import LiveEvents
from wahooks.models import Connection, ConnectionStatus
from wahooks.serialization import dumps

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _connection(user_id: str, connection_id: str = "c1a2b3c4") -> Connection:
    return Connection(
        id=connection_id, user_id=user_id, name=None, session_name=f"s_{connection_id}",
        phone_number=None, status=ConnectionStatus.WORKING, engine="NOWEB", created_at=0,
        updated_at=0,
    )


def _event(name: str = "message", **payload: object) -> dict[str, object]:
    return {"id": "evt_1", "timestamp": 1, "event": name, "session": "s", "payload": payload,
            "engine": "NOWEB"}


def test_frames_reach_only_the_accounts_own_subscribers() -> None:
    hub = LiveEvents()
    mine = hub.subscribe("alice", base_url="http://api.test")
    theirs = hub.subscribe("bob", base_url="http://api.test")
    event = _event(body="hi")
    hub.publish(_connection("alice"), event, dumps(event))
    assert mine.queued == 1 and theirs.queued == 0
    frame = json.loads(asyncio.run(mine.next_frame()) or "")
    assert list(frame) == ["event", "connectionId", "payload", "timestamp"]
    assert frame["event"] == "message" and frame["connectionId"] == "c1a2b3c4"
    assert frame["payload"] == {"body": "hi"}
    assert ISO.match(frame["timestamp"])


def test_the_envelope_is_the_stored_body_byte_for_byte() -> None:
    hub = LiveEvents()
    subscriber = hub.subscribe("alice", base_url="http://api.test", envelope=True)
    event = _event(body="héllo \u2028 \U0001f600")
    body = dumps(event)
    hub.publish(_connection("alice"), event, body)
    text = asyncio.run(subscriber.next_frame()) or ""
    assert text.endswith(',"envelope":' + body.decode() + "}")
    assert json.loads(text)["envelope"] == event


def test_media_urls_point_at_this_api_and_the_event_is_left_alone() -> None:
    hub = LiveEvents()
    here = hub.subscribe("alice", base_url="http://api.test")
    there = hub.subscribe("alice", base_url="https://public.example", envelope=True)
    media = {"url": "http://10.0.0.7:3000/api/files/s/false_1@c.us_AB.jpeg",
             "mimetype": "image/jpeg"}
    event = _event(hasMedia=True, media=media)
    hub.publish(_connection("alice", "cid"), event, dumps(event))
    near = json.loads(asyncio.run(here.next_frame()) or "")
    far = json.loads(asyncio.run(there.next_frame()) or "")
    assert near["payload"]["media"]["url"] == (
        "http://api.test/api/connections/cid/media/false_1@c.us_AB.jpeg"
    )
    assert far["payload"]["media"]["url"].startswith("https://public.example/api/")
    assert far["envelope"]["payload"]["media"] == media  # webhooks get the original
    assert event["payload"] == {"hasMedia": True, "media": media}


def test_a_full_queue_stops_its_subscriber_and_no_other() -> None:
    hub = LiveEvents(max_queued=3)
    slow = hub.subscribe("alice", base_url="http://api.test")
    fast = hub.subscribe("alice", base_url="http://api.test")
    for number in range(4):
        event = _event(n=number)
        hub.publish(_connection("alice"), event, dumps(event))
        if number < 3:
            asyncio.run(fast.next_frame())
    assert slow.stopped.is_set() and slow.close_code == 1008
    assert "Too slow" in slow.close_reason and len(slow.close_reason.encode()) <= 123
    assert asyncio.run(slow.next_frame()) is None  # what it had queued is dropped
    assert not fast.stopped.is_set() and fast.queued == 1
    assert hub.subscribers() == 1


def test_unsubscribing_forgets_the_account() -> None:
    hub = LiveEvents()
    subscriber = hub.subscribe("alice", base_url="http://api.test")
    hub.unsubscribe(subscriber)
    hub.unsubscribe(subscriber)
    assert hub.subscribers() == 0
    event = _event()
    hub.publish(_connection("alice"), event, dumps(event))
    assert subscriber.queued == 0
