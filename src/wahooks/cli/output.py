"""How the client commands print, in the official Go CLI's style: ` ✓` lines, boxed tables with a
count under them, ` <ms>ms HTTP <code>` before a JSON answer, and errors in a red panel on stderr.
`--json` output is plain JSON on stdout, nothing else, for scripts.

Stdout carries the data only: timings, status lines before an answer and errors go to stderr, so
`wahooks connections get ID | jq` works. Off a terminal, panels are written as plain lines: a
pipe or a log file gets every character, never a box cut at some width.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

# Off a terminal (pipes, scripts, tests) nothing is wrapped or cut: an id is a whole token.
_PIPE_WIDTH = 240


def _console(stream: Any, *, stderr: bool = False) -> Console:
    interactive = _interactive(stream)
    return Console(
        file=stream, stderr=stderr, highlight=False, soft_wrap=not interactive,
        width=None if interactive else _PIPE_WIDTH,
    )


def out() -> Console:
    # Built per call: click's test runner swaps sys.stdout for each invocation.
    return _console(sys.stdout)


def err() -> Console:
    return _console(sys.stderr, stderr=True)


def success(message: str) -> None:
    out().print(f"[green] ✓ {escape(message)}[/]")


def failure(message: str) -> None:
    out().print(f"[red] ✗ {escape(message)}[/]")


def warn(message: str) -> None:
    out().print(f"[yellow] ⚠ {escape(message)}[/]")


def info(message: str) -> None:
    out().print(f"[cyan] →[/] {escape(message)}")


def dim(message: str) -> None:
    out().print(f"[dim]{escape(message)}[/]")


def plain(message: str) -> None:
    out().print(escape(message))


def emit_json(data: Any) -> None:
    """The answer as JSON, alone on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def answer(data: Any, *, status: int | None, ms: int | None) -> None:
    """The Go CLI's `Response.Print()`: timing and status, then the JSON answer."""
    if status is not None:
        colour = "green" if 200 <= status < 300 else "red"
        err().print(f"[dim]{ms if ms is not None else '?'}ms[/] [{colour}]HTTP {status}[/]")
    if data is None:
        err().print("[dim](empty answer)[/]")
    else:
        out().print_json(data=data)


def bullet(text: str, detail: str = "") -> None:
    """`  • text` and a faint detail after it."""
    out().print(Text.assemble("  ", ("•", "cyan"), " ", text, (detail, "dim")))


def table(columns: Sequence[str], rows: Sequence[Sequence[str | Text]], *, noun: str) -> None:
    """A boxed table and `  N <noun>s` under it. Cells are plain text (no markup), or Text."""
    grid = Table(box=box.ROUNDED, header_style="bold", show_edge=True)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
    out().print(grid)
    count(len(rows), noun)


def count(number: int, noun: str) -> None:
    dim(f"  {number} {noun}{'' if number == 1 else 's'}")


def _interactive(stream: Any) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def panel(title: str, message: str, *, style: str) -> None:
    if not _interactive(sys.stdout):
        click.echo(f"{title}: {message}")
        return
    out().print(Panel(escape(message), title=f"[bold]{title}[/]", title_align="left",
                      border_style=style, expand=False))


def fail(message: str, hint: str = "") -> NoReturn:
    """The red Error panel on stderr (plain `Error: ...` lines off a terminal), then exit 1."""
    if not _interactive(sys.stderr):
        click.echo(f"Error: {message}" + (f"\n{hint}" if hint else ""), err=True)
        sys.exit(1)
    content = escape(message) + (f"\n\n[dim]{escape(hint)}[/]" if hint else "")
    err().print(Panel(content, title="[bold red]Error[/]", title_align="left",
                      border_style="red", expand=False))
    sys.exit(1)
