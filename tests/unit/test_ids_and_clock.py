"""Time-ordered ids and wire timestamps."""

from __future__ import annotations

import re
import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from wahooks.clock import iso
from wahooks.engines.envelope import ulid
from wahooks.ids import parse_uuid, uuid7, uuid7_time_ms


def test_uuid7_is_a_version_7_rfc_uuid_carrying_the_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(value)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert before <= uuid7_time_ms(value) <= after


def test_uuid7_strictly_increases_even_within_one_millisecond() -> None:
    values = [uuid7() for _ in range(20_000)]
    assert values == sorted(values) and len(set(values)) == len(values)


@given(st.text(max_size=40))
def test_parse_uuid_accepts_only_canonical_uuids(text: str) -> None:
    parsed = parse_uuid(text)
    if parsed is not None:
        assert str(uuid.UUID(parsed)) == parsed


def test_parse_uuid_examples() -> None:
    assert parse_uuid("01A21BB2-EE1B-740B-840B-84B600BD497E") == "01a21bb2-ee1b-740b-840b-84b600bd497e"
    assert parse_uuid("abc") is None
    assert parse_uuid("../../etc/passwd") is None


def test_iso_is_javascripts_date_to_json() -> None:
    assert iso(1_710_410_400_000) == "2024-03-14T10:00:00.000Z"
    assert iso(1_710_410_400_007) == "2024-03-14T10:00:00.007Z"
    assert iso(None) is None


def test_waha_event_ids_are_lower_case_ulids() -> None:
    assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{26}", ulid())
