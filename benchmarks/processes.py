"""``python run_bot.py`` as the benchmarks run it: configured by the environment alone, watched through
its console, ended by SIGKILL or SIGTERM (broadcast_bench.py, replica_bench.py)."""
from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 180.0  # seconds for run_bot.py to print "Bot ready" (a cold start on a busy machine)


def program_env(**settings: str) -> dict[str, str]:
    """This shell's environment without any of the program's settings (a developer's TELEGRAM_BOT_TOKEN
    or WEBHOOK_URL must not leak in), plus ``settings``: the program is configured by these alone."""
    from bot.config import Settings

    read: set[str] = set()

    class _Recorder(dict):  # learns which variables Settings.from_env reads, so new settings are covered too
        def get(self, key, default=None):
            read.add(key)
            return default

    Settings.from_env(_Recorder())
    env = {k: v for k, v in os.environ.items() if k not in read}
    env.update(PYTHONUNBUFFERED="1", **settings)
    return env


class BotProcess:
    """One life of ``python run_bot.py`` (polling mode): started, watched through its console, and
    ended by SIGKILL or SIGTERM like any deployment would end it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.started = 0.0  # wall clock
        self.ready_after: float | None = None  # seconds from the start to "Bot ready"
        self._ready = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self.started = time.time()
        with open(self.log_path, "ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "run_bot.py"), cwd=ROOT, env=self.env,
                stdout=asyncio.subprocess.PIPE, stderr=err)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if self.ready_after is None and line.startswith("Bot ready"):
                self.ready_after = time.time() - self.started
                self._ready.set()
        self._ready.set()  # ended

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            pass
        if self.ready_after is None:
            self.kill()
            await self.wait()
            raise SystemExit(f"run_bot.py did not print 'Bot ready' (exit {self.returncode}):\n{self.tail()}")

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # SIGKILL

    async def wait(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, as systemd or Ctrl+C would stop it; returns the exit status."""
        assert self.proc is not None
        self.proc.terminate()
        try:
            return await asyncio.wait_for(self.wait(), timeout)
        except TimeoutError:
            self.kill()
            await self.wait()
            raise SystemExit(f"run_bot.py did not stop within {timeout:.0f} s of SIGTERM:\n{self.tail()}") from None

    def tail(self) -> str:
        err = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        return "stdout:\n" + "\n".join(self.lines[-20:]) + f"\nstderr ({self.log_path}):\n" + err
