"""The sandbox keeps sent files within a bound, oldest forgotten first (issue 11, item 7): ten
7 MB images used to add 93 MB that were never freed."""

from __future__ import annotations

from wahooks.engines.messages import MediaContent
from wahooks.engines.sandbox.media import MEDIA_BYTES, MEDIA_KEPT, MediaShelf


def _file(size: int) -> MediaContent:
    return MediaContent(b"x" * size, "image/png")


def test_the_count_is_bounded_and_the_oldest_go_first() -> None:
    shelf = MediaShelf(kept=3, max_bytes=1000)
    for name in "abcd":
        shelf.put("c1", name, _file(10))
    assert len(shelf) == 3
    assert shelf.get("c1", "a") is None
    assert [shelf.get("c1", name) is not None for name in "bcd"] == [True, True, True]
    assert shelf.size == 30


def test_the_bytes_are_bounded_and_the_oldest_go_first() -> None:
    shelf = MediaShelf(kept=100, max_bytes=100)
    shelf.put("c1", "a", _file(40))
    shelf.put("c2", "b", _file(40))
    shelf.put("c1", "c", _file(40))  # 120 bytes: a goes
    assert shelf.get("c1", "a") is None
    assert shelf.get("c2", "b") is not None and shelf.get("c1", "c") is not None
    assert shelf.size == 80
    shelf.put("c1", "huge", _file(101))  # larger than the whole bound: not kept at all
    assert len(shelf) == 0 and shelf.size == 0


def test_files_are_kept_per_connection_and_a_name_sent_again_replaces_its_file() -> None:
    shelf = MediaShelf()
    shelf.put("c1", "a", _file(5))
    shelf.put("c1", "a", _file(7))
    assert shelf.get("c2", "a") is None
    assert shelf.size == 7 and len(shelf) == 1


def test_the_default_bound_is_the_documented_one() -> None:
    # docs/sandbox limits: 100 files, 64 MiB in all.
    assert (MEDIA_KEPT, MEDIA_BYTES) == (100, 64 * 1024 * 1024)
    shelf = MediaShelf()
    for index in range(10):  # the ten 7 MB images
        shelf.put("c1", str(index), _file(7 * 1024 * 1024))
    assert shelf.size <= MEDIA_BYTES and len(shelf) == 9
