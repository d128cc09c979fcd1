"""What an agent needs to write a receiver: the event catalogue (one real example body per event
type) and the signature scheme, as MCP resources, and a prompt that puts them to work.

The examples are WAHA's event shapes, which is what every engine delivers; they ship with the
package (`catalogue/`), so the resources need no API call and no token.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from pydantic import Field

CATALOGUE = resources.files("wahooks.mcp") / "catalogue"


@cache
def event_index() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((CATALOGUE / "events.json").read_text("utf-8"))
    return [{**entry, "uri": f"wahooks://events/{entry['example']}"} for entry in entries]


def events() -> str:
    """Every event type a webhook can subscribe to, what it means, and the URI of an example."""
    return json.dumps(event_index(), indent=2)


def event_example(example: str) -> str:
    """The whole body a webhook receives for one event type."""
    if example not in {entry["example"] for entry in event_index()}:
        raise ResourceNotFoundError(f"No example named {example!r}; see wahooks://events")
    return (CATALOGUE / "examples" / f"{example}.json").read_text("utf-8")


def signatures() -> str:
    """How deliveries are signed, retried and verified, with receiver code in Python and Node."""
    return (CATALOGUE / "signatures.md").read_text("utf-8")


def write_webhook_receiver(
    language: Annotated[str, Field(description="e.g. Python (Flask), Node.js (Express), Go")],
    events: Annotated[str, Field(description="Comma-separated event types to handle")] = "message",
) -> str:
    """Ask for a webhook receiver that verifies signatures and handles the given events."""
    wanted = [name.strip() for name in events.split(",") if name.strip()]
    examples = "\n\n".join(
        f"Example `{entry['event']}` body ({entry['description']}):\n```json\n"
        f"{event_example(entry['example'])}```"
        for entry in event_index() if entry["example"] in wanted
    )
    return (
        f"Write a webhook receiver in {language} for wahooks deliveries of these events: "
        f"{', '.join(wanted)}. It must verify each delivery's signature on the raw body and "
        "refuse stale timestamps, de-duplicate on X-WAHooks-Delivery, and answer 2xx quickly.\n\n"
        f"{signatures()}\n\n{examples}"
    )


def add_resources(server: MCPServer) -> None:
    server.resource("wahooks://events", name="events", mime_type="application/json")(events)
    server.resource(
        "wahooks://events/{example}", name="event_example", mime_type="application/json"
    )(event_example)
    server.resource(
        "wahooks://signatures", name="signatures", mime_type="text/markdown"
    )(signatures)
    server.prompt()(write_webhook_receiver)
