"""The bot as a separate process for tests/test_faults.py (kill -9): the real Application long-polling an
emulator that lives in the *test* process, so the emulator (the "Telegram" side) survives the kill.

    python tests/fault_bot_process.py --base-url http://127.0.0.1:PORT --db-url URL --data-dir DIR

Prints one JSON line ``{"event": "ready", "pid": …}`` once polling, then runs until killed (SIGTERM:
graceful stop). The outbox worker id is stable (``--worker-id``), as the outbox docs recommend, so a
restarted process takes over its own rows at once.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "123456:TEST-TOKEN"


async def main(args: argparse.Namespace) -> None:
    from bot.app import build_application
    from bot.config import Settings
    from bot.outbox import Outbox
    from bot.processor import ChatOrderedUpdateProcessor
    from bot.runtime import open_services

    kw = {"data_dir": Path(args.data_dir), "database_url": args.db_url, "seed_corpus": False,
          "admin_ids": frozenset(int(x) for x in args.admins.split(",") if x)}
    if "flood_rate" in {f.name for f in dataclasses.fields(Settings)}:
        kw.update(flood_rate=1000.0, flood_burst=1000)
    settings = Settings(**kw)
    services = await open_services(settings)
    app = build_application(services, token=TOKEN, base_url=args.base_url + "/bot",
                            base_file_url=args.base_url + "/file/bot", processor=ChatOrderedUpdateProcessor())
    if args.worker_id:  # a stable outbox worker id: pass it to the Outbox the app creates in post_init
        orig_init = Outbox.__init__

        def init(self, *a, **k):
            k.setdefault("worker_id", args.worker_id)
            orig_init(self, *a, **k)

        Outbox.__init__ = init
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with app:
        await app.post_init(app)  # run_polling() would call it; the outbox, digests and scheduler start here
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        print(json.dumps({"event": "ready", "pid": os.getpid()}), flush=True)
        await stop.wait()
        await app.updater.stop()
        await app.stop()
        await app.post_stop(app)
    await services.storage.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--admins", default="")
    ap.add_argument("--worker-id", default="fault-bot-1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(ap.parse_args()))
