"""``python -m devtools.emulator``: the emulator and its playground page on their own, for a bot
started separately (point it at the printed base_url)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from typing import Any

from .server import BotAPIEmulator

DEFAULT_PLAYGROUND_USERS: list[dict[str, Any]] = [
    {"id": 10001, "first_name": "张老师", "username": "zhang_inventor",
     "label": "发明人 Inventor (张老师)"},
    {"id": 10002, "first_name": "王经理", "username": "wang_enterprise",
     "label": "企业 Enterprise (王经理)"},
    {"id": 10003, "first_name": "李主任", "username": "li_tto",
     "label": "技术转移办 TTO (李主任)"},
    {"id": 10004, "first_name": "管理员", "username": "admin_user",
     "label": "管理员 Admin"},
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.emulator",
                                     description="Telegram Bot API emulator + playground page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--token", default=os.environ.get("EMU_TOKEN", "123456:TEST-TOKEN"))
    parser.add_argument("--bot-username", default="patent_pilot_bot")
    parser.add_argument("--no-playground", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def run() -> None:
        emu = BotAPIEmulator(token=args.token, bot_username=args.bot_username,
                             serve_playground=not args.no_playground,
                             playground_users=DEFAULT_PLAYGROUND_USERS)
        await emu.start(args.host, args.port)
        print(f"Bot API emulator on {emu.url}")
        print(f"  token         = {emu.token}")
        print(f"  base_url      = {emu.base_url}")
        print(f"  base_file_url = {emu.base_file_url}")
        if emu.serve_playground:
            print(f"  playground    = {emu.url}/")
        try:
            await asyncio.Event().wait()
        finally:
            await emu.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
