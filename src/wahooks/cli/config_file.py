"""The CLI's config file, `~/.wahooks.json` as the official Go CLI writes it:
`{"api_url", "token", "refresh_token"}`, readable by its owner only (0600).

`WAHOOKS_CONFIG` names another file (tests, several servers side by side).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_API_URL = "http://localhost:3001"
CONFIG_ENV = "WAHOOKS_CONFIG"


class ConfigError(Exception):
    """The config file cannot be read or written."""


def config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    return Path(override).expanduser() if override else Path.home() / ".wahooks.json"


@dataclass
class ClientConfig:
    path: Path
    api_url: str = DEFAULT_API_URL
    token: str = ""
    others: dict[str, Any] = field(default_factory=dict)
    """Keys this CLI does not use (the Go CLI's refresh_token), written back unchanged."""

    @classmethod
    def load(cls) -> ClientConfig:
        path = config_path()
        try:
            raw = path.read_text("utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise ConfigError(f"Cannot read {path}: {exc.strerror}") from None
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ConfigError(f"{path} is not valid JSON; fix or delete it") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object")
        api_url = data.pop("api_url", None) or DEFAULT_API_URL
        token = data.pop("token", None) or ""
        return cls(path, str(api_url), str(token), data)

    def save(self) -> None:
        """Write the file atomically, created with mode 0600 (it holds a credential)."""
        content = json.dumps(
            {"api_url": self.api_url, "token": self.token, **self.others}, indent=2
        ) + "\n"
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.chmod(temporary, 0o600)  # O_CREAT's mode is filtered by the umask
            os.replace(temporary, self.path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise ConfigError(f"Cannot write {self.path}: {exc.strerror}") from None
