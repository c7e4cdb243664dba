"""Settings, read only from the environment (12-factor): secrets never live in code or files we ship."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CORPUS = PROJECT_ROOT / "data" / "patents.jsonl.gz"
LOCALES_DIR = PROJECT_ROOT / "locales"


def _int_set(raw: str) -> frozenset[int]:
    out = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if part:
            out.add(int(part))
    return frozenset(out)


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
            webhook_port=int(e.get("WEBHOOK_PORT", "8443")),
            webhook_secret=e.get("WEBHOOK_SECRET") or None,
            data_dir=data_dir,
            database_url=e.get("DATABASE_URL") or None,
            admin_ids=_int_set(e.get("ADMIN_IDS", "")),
            playground_port=int(e.get("PLAYGROUND_PORT", "8080")),
            playground_host=e.get("PLAYGROUND_HOST", "127.0.0.1"),
            bot_api_base_url=e.get("BOT_API_BASE_URL") or None,
            bot_api_file_url=e.get("BOT_API_FILE_URL") or None,
            bot_username=e.get("BOT_USERNAME") or None,
            default_language=e.get("DEFAULT_LANGUAGE", "zh"),
            seed_corpus=e.get("SEED_CORPUS", "1") not in ("0", "false", "no"),
            log_level=e.get("LOG_LEVEL", "INFO"),
            flood_rate=float(e.get("FLOOD_RATE", "3")),
            flood_burst=int(e.get("FLOOD_BURST", "8")),
            outbox_worker_id=e.get("OUTBOX_WORKER_ID") or None,
            outbox_trace_file=e.get("OUTBOX_TRACE_FILE") or None,
            polling_timeout=int(e.get("POLLING_TIMEOUT", "10")),
            clock_start=e.get("BOT_CLOCK_START") or None,
            playground_database_ok=e.get("PLAYGROUND_DATABASE_URL_OK", "") in ("1", "true", "yes"),
            retention_days=max(1, int(e.get("RETENTION_DAYS", "180"))),
            expert_request_hours=float(e.get("EXPERT_REQUEST_HOURS", "48")),
        )
