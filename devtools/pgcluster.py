"""A throwaway PostgreSQL cluster on loopback, from Debian's packages (as ``.ci/pg.sh`` starts one):
for tests that restart the server and for benchmarks that want a database of their own."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin that has pg_ctl, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.parent.name.split(".")])
    return found[-1].parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    """initdb (as the postgres user when we are root) + pg_ctl on a free loopback port, UTF-8 locale
    (pg_trgm and Chinese collation need it), fsync off; ``stop()`` removes the data directory."""

    def __init__(self, bindir: Path, port: int | None = None, *, max_connections: int = 200) -> None:
        self.bindir = bindir
        self.port = port or free_port()
        self.max_connections = max_connections
        self.datadir = Path(tempfile.mkdtemp(prefix="throwaway-pg."))
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def run(self, *cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        argv = (["runuser", "-u", "postgres", "--"] if self.as_postgres else []) + list(cmd)
        return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=timeout)

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args, check=check)

    def options(self) -> str:
        return (f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                f"-c max_connections={self.max_connections}")

    def start(self) -> "ThrowawayPostgres":
        if self.as_postgres:
            shutil.chown(self.datadir, "postgres", "postgres")
        self.run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C.UTF-8")
        self.ctl("-l", str(self.datadir / "server.log"), "-w", "-o", self.options(), "start")
        return self

    def restart_fast(self) -> subprocess.CompletedProcess:
        # -l: the new postmaster must not inherit our stdout pipe (communicate() would wait for it forever)
        return self.ctl("-w", "-m", "fast", "-l", str(self.datadir / "server.log"), "restart", check=False)

    def stop(self) -> None:
        self.ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(self.datadir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
