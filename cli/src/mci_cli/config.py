"""Where the services are and which key to send: environment, then a config file, then (for a
local `make run` stack) the development key in `.run/bootstrap-admin-key`."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mci_cli.errors import Failure

# The local ports `make run` uses (README: auth 8001 ... orders 8005).
SERVICES = {
    "auth": "http://127.0.0.1:8001",
    "catalog": "http://127.0.0.1:8002",
    "pricing": "http://127.0.0.1:8003",
    "offers": "http://127.0.0.1:8004",
    "orders": "http://127.0.0.1:8005",
}
# Connectors the CLI speaks to (`MCI_BIGBUY_URL`, `bigbuy_url`), beside the five services.
CONNECTORS = {"bigbuy": "http://127.0.0.1:8006"}
DEFAULT_CONFIG = Path("~/.config/mci/config.toml")
BOOTSTRAP_KEY = Path(".run") / "bootstrap-admin-key"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Config:
    urls: dict[str, str]
    api_key: str | None
    key_source: str
    timeout: float = 60.0
    origins: dict[str, str] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return self.urls[service].rstrip("/")


def _read_file(path: Path, explicit: bool) -> dict[str, object]:
    if not path.exists():
        if explicit:
            raise Failure(2, f"config file {path} does not exist")
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Failure(2, f"config file {path} cannot be read: {exc}") from None


def _bootstrap_key(start: Path) -> str | None:
    """The development key of a `make run` stack in this folder or one above it."""
    for folder in (start, *start.parents):
        candidate = folder / BOOTSTRAP_KEY
        if candidate.is_file():
            try:
                return candidate.read_text(encoding="utf-8").strip() or None
            except OSError:
                return None
    return None


def load(config_path: Path | None, env: dict[str, str] | None = None) -> Config:
    """Environment first (`MCI_API_KEY`, `MCI_<SERVICE>_URL`), then the config file
    (`--config`, `MCI_CONFIG` or ~/.config/mci/config.toml: `api_key = "..."` and
    `<service>_url = "..."`), then the defaults."""
    env = dict(os.environ) if env is None else env
    explicit = config_path is not None or bool(env.get("MCI_CONFIG"))
    path = (config_path or Path(env.get("MCI_CONFIG") or DEFAULT_CONFIG)).expanduser()
    data = _read_file(path, explicit)
    urls: dict[str, str] = {}
    origins: dict[str, str] = {}
    for service, default in {**SERVICES, **CONNECTORS}.items():
        name = f"{service}_url"
        if env.get(f"MCI_{service.upper()}_URL"):
            urls[service], origins[service] = env[f"MCI_{service.upper()}_URL"], "env"
        elif isinstance(data.get(name), str):
            urls[service], origins[service] = str(data[name]), str(path)
        else:
            urls[service], origins[service] = default, "default"
    key: str | None
    if env.get("MCI_API_KEY"):
        key, source = env["MCI_API_KEY"], "MCI_API_KEY"
    elif isinstance(data.get("api_key"), str):
        key, source = str(data["api_key"]), str(path)
    elif urlsplit(urls["auth"]).hostname in LOCAL_HOSTS:
        key = _bootstrap_key(Path.cwd())
        source = str(BOOTSTRAP_KEY) if key else "none"
    else:
        key, source = None, "none"
    timeout = data.get("timeout_seconds", 60.0)
    return Config(
        urls=urls,
        api_key=key,
        key_source=source,
        timeout=float(timeout) if isinstance(timeout, int | float) else 60.0,
        origins=origins,
    )
