#!/usr/bin/env python3
"""Render deploy/nginx-patentbot.conf.template for a set of webhook workers.

    python3 deploy/render_nginx.py --listen 443 --server-name bot.example.org --path /tg-hook \
        --worker 127.0.0.1:8081 --worker 127.0.0.1:8082 --worker 10.0.0.12:8081 > patentbot.conf

``--standalone DIR`` writes a complete nginx.conf (pid, logs and temp files under DIR, no root
needed): for tests, benchmarks and a quick try without touching /etc/nginx.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx-patentbot.conf.template")


def render_site(*, listen: str, workers: list[str], path: str = "/tg-hook", server_name: str = "_",
                access_log: str = "/var/log/nginx/patentbot.access.log") -> str:
    if not workers:
        raise ValueError("at least one --worker HOST:PORT")
    servers = "\n".join(f"    server {w} max_fails=1 fail_timeout=5s;" for w in workers)
    out = TEMPLATE.read_text(encoding="utf-8")
    for key, value in {"LISTEN": listen, "SERVER_NAME": server_name, "WEBHOOK_PATH": path,
                       "UPSTREAM_SERVERS": servers, "ACCESS_LOG": access_log}.items():
        out = out.replace(f"@@{key}@@", value)
    return out


def render_standalone(directory: Path, **site: object) -> Path:
    """A complete nginx.conf in ``directory`` (run with ``nginx -p DIR -c DIR/nginx.conf``)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "site.conf").write_text(render_site(access_log=str(directory / "access.log"), **site))
    conf = directory / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {directory}/tmp-body;
    proxy_temp_path {directory}/tmp-proxy;
    fastcgi_temp_path {directory}/tmp-fastcgi;
    uwsgi_temp_path {directory}/tmp-uwsgi;
    scgi_temp_path {directory}/tmp-scgi;
    include {directory}/site.conf;
}}
""")
    return conf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="80")
    ap.add_argument("--server-name", default="_")
    ap.add_argument("--path", default="/tg-hook", help="the path of WEBHOOK_URL")
    ap.add_argument("--worker", action="append", required=True, help="HOST:PORT of a worker (repeat)")
    ap.add_argument("--access-log", default="/var/log/nginx/patentbot.access.log")
    ap.add_argument("--standalone", type=Path, help="write a complete nginx.conf into this directory")
    a = ap.parse_args(argv)
    site = dict(listen=a.listen, workers=a.worker, path=a.path, server_name=a.server_name)
    if a.standalone:
        print(render_standalone(a.standalone, **site))
    else:
        sys.stdout.write(render_site(access_log=a.access_log, **site))
    return 0


if __name__ == "__main__":
    sys.exit(main())
