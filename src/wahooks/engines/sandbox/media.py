"""The files sent through the sandbox, kept in memory for the media proxy, within a bound.

A sandbox is a test bed, not a store: it keeps the newest MEDIA_KEPT files and at most MEDIA_BYTES
of them across all its connections, and forgets the oldest first (their media URL then answers
404). Without the bound, every file sent stayed in memory until the process ended.
"""

from __future__ import annotations

from wahooks.engines.messages import MediaContent

MEDIA_KEPT = 100
MEDIA_BYTES = 64 * 1024 * 1024


class MediaShelf:
    def __init__(self, *, kept: int = MEDIA_KEPT, max_bytes: int = MEDIA_BYTES) -> None:
        self._kept = kept
        self._max_bytes = max_bytes
        self._files: dict[tuple[str, str], MediaContent] = {}  # insertion order: oldest first
        self.size = 0

    def put(self, connection_id: str, filename: str, content: MediaContent) -> None:
        self._drop((connection_id, filename))
        self._files[(connection_id, filename)] = content
        self.size += len(content.body)
        while self._files and (len(self._files) > self._kept or self.size > self._max_bytes):
            self._drop(next(iter(self._files)))

    def get(self, connection_id: str, filename: str) -> MediaContent | None:
        return self._files.get((connection_id, filename))

    def __len__(self) -> int:
        return len(self._files)

    def _drop(self, key: tuple[str, str]) -> None:
        gone = self._files.pop(key, None)
        if gone is not None:
            self.size -= len(gone.body)
