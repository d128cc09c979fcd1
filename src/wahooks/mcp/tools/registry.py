"""Collects tool functions with their behaviour hints, for the server to register."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mcp_types import ToolAnnotations

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class ToolSpec:
    fn: Callable[..., Awaitable[Any]]
    annotations: ToolAnnotations


@dataclass
class ToolSet:
    specs: list[ToolSpec] = field(default_factory=list)

    def read(self, fn: F) -> F:
        """A tool that changes nothing."""
        return self._add(fn, ToolAnnotations(read_only_hint=True))

    def write(self, fn: F) -> F:
        """A tool that adds or changes something, and destroys nothing."""
        return self._add(fn, ToolAnnotations(read_only_hint=False, destructive_hint=False))

    def destroy(self, fn: F) -> F:
        """A tool that deletes, revokes or resets something."""
        return self._add(fn, ToolAnnotations(read_only_hint=False, destructive_hint=True))

    def _add(self, fn: F, annotations: ToolAnnotations) -> F:
        self.specs.append(ToolSpec(fn, annotations))
        return fn
