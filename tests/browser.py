"""Headless Chromium driven over the Chrome DevTools Protocol (aiohttp websocket), so no extra
browser-automation package is needed: the browser tests open the playground page of a real
``run_bot.py`` and act on it as a person would."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class CDP:
    """A minimal Chrome DevTools Protocol client for one page."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self._id = 0

    async def call(self, method: str, **params):
        self._id += 1
        my_id = self._id
        await self.ws.send_json({"id": my_id, "method": method, "params": params})
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), 30)
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def js(self, expression: str):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"JS error: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def wait_js(self, expression: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for: {expression}")


@asynccontextmanager
async def page(url: str, profile: Path, width: int, height: int = 844):
    """A headless Chromium page at ``width`` CSS pixels, opened at ``url``."""
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but chromium is not installed")
        pytest.skip("chromium not installed")
    browser = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        devtools = f"http://127.0.0.1:{int(port_file.read_text().split()[0])}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{devtools}/json/list") as r:
                pages = [t for t in await r.json() if t["type"] == "page"]
            async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                cdp = CDP(ws)
                cdp.devtools, cdp.http = devtools, http
                await cdp.call("Page.enable")
                await cdp.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                               deviceScaleFactor=1, mobile=width < 720)
                await cdp.call("Page.navigate", url=url)
                await cdp.wait_js("document.querySelectorAll('#user-select option').length >= 3")
                yield cdp
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
