"""nginx in front of webhook workers, for tests and benchmarks: the config is rendered from the
reference deployment's template (deploy/nginx-patentbot.conf.template), run without root from a
temporary directory, stopped by its PID."""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def _renderer():
    spec = importlib.util.spec_from_file_location("render_nginx", DEPLOY / "render_nginx.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


class NginxFront:
    """``with NginxFront(port, ["127.0.0.1:8081", ...], "/tg-hook") as ngx:`` — ngx.url is the webhook URL."""

    def __init__(self, port: int, workers: list[str], path: str = "/tg-hook", directory: Path | None = None):
        self.port, self.workers, self.path = port, workers, path
        self.dir = directory or Path(tempfile.mkdtemp(prefix="patentbot-nginx-"))
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{port}{path}"

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    def start(self, timeout: float = 10) -> "NginxFront":
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
        conf = _renderer().render_standalone(self.dir, listen=f"127.0.0.1:{self.port}", workers=self.workers,
                                             path=self.path)
        self.proc = subprocess.Popen([binary, "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx did not start: " + (self.proc.stderr.read().decode() if self.proc.stderr
                                                               else ""))
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not listen on port %d" % self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish the requests in hand
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def upstreams(self) -> list[tuple[str, str]]:
        """(worker address, its status) of every proxied request so far, from the access log."""
        out = []
        if self.access_log.exists():
            for line in self.access_log.read_text().splitlines():
                parts = dict(p.split("=", 1) for p in line.split() if p.startswith(("upstream=", "upstream_status=")))
                if parts.get("upstream", "-") != "-":
                    out.append((parts["upstream"], parts.get("upstream_status", "")))
        return out

    def __enter__(self) -> "NginxFront":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
