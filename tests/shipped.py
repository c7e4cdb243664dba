"""The shipped program as a black box: ``python run_bot.py`` in a subprocess, configured only by the
environment as README documents, watched through its console and reached only over HTTP."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.config import PROJECT_ROOT

READY_PREFIXES = ("Bot ready", "Playground ready")
# settings of the developer's shell that would change what the program does
_CLEARED = ("TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_PORT", "WEBHOOK_LISTEN", "DATABASE_URL",
            "BOT_API_BASE_URL", "BOT_API_FILE_URL", "BOT_CLOCK_START", "ADMIN_IDS", "OUTBOX_WORKER_ID", "DATA_DIR",
            "PLAYGROUND_PORT", "SEED_CORPUS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seeded_data_dir(seeded_db: Path, folder: Path) -> Path:
    """A DATA_DIR holding a copy of the session's seeded database and its index cache."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(seeded_db / "patents.db", folder / "patents.db")
    shutil.copytree(seeded_db / "cache", folder / "cache")
    return folder


class ShippedBot:
    """One run of ``python run_bot.py ARGS`` with ``env`` on top of a cleaned environment."""

    def __init__(self, env: dict[str, str], args: tuple[str, ...] = (), cwd: Path | None = None) -> None:
        self.env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
        self.env.update(PYTHONUNBUFFERED="1", **env)
        self.args = [sys.executable, str(PROJECT_ROOT / "run_bot.py"), *args]
        self.cwd = cwd or PROJECT_ROOT
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.ready_line: str | None = None
        self.started_at = 0.0
        self.ready_after = 0.0  # seconds from the process's start to its ready line
        self._ready = threading.Event()

    def start(self, timeout: float = 180) -> "ShippedBot":
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(timeout) or self.ready_line is None:
            self.kill()
            raise AssertionError("run_bot.py did not get ready:\n" + self.output)
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if self.ready_line is None and line.startswith(READY_PREFIXES):
                self.ready_after = time.monotonic() - self.started_at
                self.ready_line = line.strip()
                self._ready.set()
        self._ready.set()  # the process ended

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-80:])

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, as systemd or Ctrl+C would stop it; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("run_bot.py did not stop on SIGTERM:\n" + self.output) from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    # Async use: the test's event loop may be serving the Bot API (the emulator) meanwhile.
    async def astart(self, timeout: float = 180) -> "ShippedBot":
        return await asyncio.to_thread(self.start, timeout)

    async def aterminate(self, timeout: float = 30) -> int:
        return await asyncio.to_thread(self.terminate, timeout)

    async def __aenter__(self) -> "ShippedBot":
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            code = await self.aterminate()
            if exc[0] is None:
                assert code == 0, "run_bot.py did not exit cleanly:\n" + self.output
