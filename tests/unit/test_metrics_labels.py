"""The metrics' labels come from fixed sets, whatever the traffic (bounded cardinality)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wahooks.metrics import event_label, status_class
from wahooks.schemas import EVENT_NAMES


@pytest.mark.parametrize(
    ("code", "label"),
    [(None, "none"), (100, "1xx"), (204, "2xx"), (302, "3xx"), (429, "4xx"), (599, "5xx"),
     (600, "other"), (99, "other")],
)
def test_statuses_are_grouped_by_class(code: int | None, label: str) -> None:
    assert status_class(code) == label


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_any_status_lands_in_one_of_seven_classes(code: int) -> None:
    assert status_class(code) in {"1xx", "2xx", "3xx", "4xx", "5xx", "other"}


@given(st.text())
def test_an_event_type_outside_the_catalogue_counts_as_other(event_type: str) -> None:
    label = event_label(event_type)
    known = event_type in EVENT_NAMES and event_type != "*"
    assert label == (event_type if known else "other")


def test_every_catalogue_event_keeps_its_name() -> None:
    assert [event_label(name) for name in EVENT_NAMES if name != "*"] == list(EVENT_NAMES[1:])
