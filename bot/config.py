"""Settings, read only from the environment (12-factor): secrets never live in code or files we ship."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CORPUS = PROJECT_ROOT / "data" / "patents.jsonl.gz"
LOCALES_DIR = PROJECT_ROOT / "locales"


class ConfigError(ValueError):
    """An environment variable the program cannot read; the message names it, for the operator."""


def _int_set(name: str, raw: str) -> frozenset[int]:
    out = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if part:
            try:
                out.add(int(part))
            except ValueError:
                raise ConfigError(f"{name}: {part!r} is not a Telegram user id (comma-separated numbers)") from None
    return frozenset(out)


def _number(e: Any, name: str, default: str, kind: type = int, minimum: float | None = None) -> Any:
    raw = e.get(name) or default  # set but empty: the default, as for every other setting
    try:
        value = kind(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}={raw!r} is not {what} (default {default})") from None
    return value if minimum is None else max(kind(minimum), value)


@dataclass(frozen=True)
class Settings:
    bot_token: str | None = None
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str | None = None
    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str | None = None
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    playground_port: int = 8080
    playground_host: str = "127.0.0.1"
    bot_api_base_url: str | None = None  # e.g. a self-hosted Bot API server, or the emulator
    bot_api_file_url: str | None = None  # default: derived from bot_api_base_url (…/bot → …/file/bot)
    bot_username: str | None = None  # for deep links printed by the CLI (else asked from Telegram)
    default_language: str = "zh"
    seed_corpus: bool = True
    log_level: str = "INFO"
    flood_rate: float = 3.0  # per-user messages/taps per second, sustained
    flood_burst: int = 8  # per-user burst
    outbox_worker_id: str | None = None  # stable per process slot: a restart takes over its own pushes at once
    outbox_trace_file: str | None = None  # a JSON line per committed group of sent-marks (bot/delivery/sender.py)
    polling_timeout: int = 10  # seconds a getUpdates long poll may wait
    clock_start: str | None = None  # BOT_CLOCK_START: run on a shifted clock (local Bot API only, bot/clock.py)
    # the playground grants its simulated users roles: only on its own database unless asked explicitly
    playground_database_ok: bool = False
    # pushes' texts and files, saved search texts and audit images older than this many days are pruned
    retention_days: int = 180
    expert_request_hours: float = 48.0  # an expert request unaccepted this long passes to the next experts
    # PostgreSQL connections per process: SQLAlchemy's pool (this many, and as many again at peaks) and the
    # coordination pool (per-chat turns, flood buckets); docs/DEPLOY.md has the sum for N workers
    db_pool_size: int = 10
    db_coordination_pool_size: int = 16

    @property
    def effective_file_url(self) -> str | None:
        if self.bot_api_file_url:
            return self.bot_api_file_url
        base = (self.bot_api_base_url or "").rstrip("/")
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'patents.db'}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        e = os.environ if env is None else env
        data_dir = Path(e.get("DATA_DIR") or PROJECT_ROOT / "var")
        return cls(
            bot_token=e.get("TELEGRAM_BOT_TOKEN") or None,
            webhook_url=e.get("WEBHOOK_URL") or None,
            webhook_listen=e.get("WEBHOOK_LISTEN", "0.0.0.0"),
            webhook_port=_number(e, "WEBHOOK_PORT", "8443"),
            webhook_secret=e.get("WEBHOOK_SECRET") or None,
            data_dir=data_dir,
            database_url=e.get("DATABASE_URL") or None,
            admin_ids=_int_set("ADMIN_IDS", e.get("ADMIN_IDS", "")),
            playground_port=_number(e, "PLAYGROUND_PORT", "8080"),
            playground_host=e.get("PLAYGROUND_HOST", "127.0.0.1"),
            bot_api_base_url=e.get("BOT_API_BASE_URL") or None,
            bot_api_file_url=e.get("BOT_API_FILE_URL") or None,
            bot_username=e.get("BOT_USERNAME") or None,
            default_language=e.get("DEFAULT_LANGUAGE", "zh"),
            seed_corpus=e.get("SEED_CORPUS", "1") not in ("0", "false", "no"),
            log_level=e.get("LOG_LEVEL", "INFO"),
            flood_rate=_number(e, "FLOOD_RATE", "3", float),
            flood_burst=_number(e, "FLOOD_BURST", "8"),
            outbox_worker_id=e.get("OUTBOX_WORKER_ID") or None,
            outbox_trace_file=e.get("OUTBOX_TRACE_FILE") or None,
            polling_timeout=_number(e, "POLLING_TIMEOUT", "10"),
            clock_start=e.get("BOT_CLOCK_START") or None,
            playground_database_ok=e.get("PLAYGROUND_DATABASE_URL_OK", "") in ("1", "true", "yes"),
            retention_days=_number(e, "RETENTION_DAYS", "180", int, 1),
            expert_request_hours=_number(e, "EXPERT_REQUEST_HOURS", "48", float),
            db_pool_size=_number(e, "DB_POOL_SIZE", "10", int, 1),
            db_coordination_pool_size=_number(e, "DB_COORDINATION_POOL_SIZE", "16", int, 2),
        )
