"""The emulator as one object: an aiohttp server answering ``/bot<token>/<method>`` like
api.telegram.org, file downloads, the ``/_emu/`` control API and the playground page.

:class:`BotAPIEmulator` is composed of one mixin per concern; each keeps its own state (set up
by its ``_init_*``) and reaches the others' through ``self``. A Bot API method ``name`` is the
coroutine ``_m_<name>`` of whichever mixin implements it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self

from aiohttp import ClientSession, ClientTimeout, web

from .answers import ControlError, TgError, bad_request, json_response
from .control import ControlAPI
from .faults import FaultInjection
from .files import MAX_UPLOAD, FileStore, file_response
from .limits import RateLimits, SendingLimits
from .methods_bot import BotProfileMethods
from .methods_chat import ChatMethods
from .methods_media import MediaMethods
from .methods_messages import MessageMethods
from .methods_queries import QueryMethods
from .methods_updates import UpdateMethods
from .simulation import UserSimulation
from .state import EmulatorState
from .validation import Params, read_params

log = logging.getLogger("devtools.emulator")


class BotAPIEmulator(ControlAPI, UserSimulation, UpdateMethods, MessageMethods, MediaMethods,
                     QueryMethods, BotProfileMethods, ChatMethods, SendingLimits,
                     FaultInjection, FileStore, EmulatorState):
    """In-memory Telegram Bot API server + control API + optional playground page."""

    def __init__(self, *, token: str = "123456:TEST-TOKEN",
                 bot_username: str = "patent_pilot_bot",
                 bot_first_name: str = "专利盘活",
                 rate_limits: RateLimits | None = None,
                 serve_playground: bool = False,
                 playground_users: list[dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 inline_answer_timeout: float = 10.0,
                 callback_answer_timeout: float | None = None):
        if ":" not in token or not token.split(":", 1)[0].isdigit():
            raise ValueError("token must look like '<digits>:<secret>'")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.serve_playground = serve_playground
        #: differs for every emulator object: the playground page notices a restart by it (message ids,
        #: chats and seq counters all start again) and drops what it shows instead of asking for them
        self.instance = secrets.token_hex(8)
        self.clock = clock
        #: seconds after which answerInlineQuery fails with "query is too old"
        self.inline_answer_timeout = inline_answer_timeout
        #: optional limit for answerCallbackQuery (None = unlimited)
        self.callback_answer_timeout = callback_answer_timeout

        self._init_rate_limits(rate_limits)
        self._init_state()
        self._init_webhook()
        self._init_files()
        self._init_bot_profile()
        self._init_faults()
        self._calls: list[dict[str, Any]] = []
        self.error_count = 0

        self._http: ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port: int | None = None
        self._host = "127.0.0.1"
        self._closing = False

        self._methods: dict[str, tuple[str, Callable[[Params], Awaitable[Any]]]] = {}
        for attr in dir(self):
            if attr.startswith("_m_"):
                name = attr[3:]
                self._methods[name.lower()] = (name, getattr(self, attr))

        for u in playground_users or []:
            self.add_user(int(u["id"]), u.get("first_name") or str(u["id"]),
                          username=u.get("username"),
                          language_code=u.get("language_code", "zh-hans"),
                          last_name=u.get("last_name"), label=u.get("label"))

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024,
                              middlewares=[self._control_guard, self._error_middleware])
        r = app.router
        r.add_route("*", "/bot{token}/{method}", self._handle_api)
        r.add_get("/file/bot{token}/{path:.+}", self._handle_file_download)
        self._add_control_routes(r)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        server = self._site._server
        self._port = server.sockets[0].getsockname()[1] if server else port
        self._host = host
        self._http = ClientSession(timeout=ClientTimeout(total=10))
        if self._webhook:
            self._start_webhook_task()

    async def stop(self) -> None:
        self._closing = True
        self._wake_everything()
        await self._stop_webhook_task()
        if self._http:
            await self._http.close()
            self._http = None
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("emulator not started")
        return self._port

    @property
    def url(self) -> str:
        host = self._host if self._host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/bot"

    @property
    def base_file_url(self) -> str:
        return self.url + "/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name,
                "username": self.bot_username}

    # ------------------------------------------------------------------ call log / stats

    def calls(self, method: str | None = None, chat_id: int | None = None,
              since: float | None = None) -> list[dict[str, Any]]:
        """The log of Bot API calls: dicts with method, chat_id, ts (wall), t (clock), status."""
        m = method.lower() if method else None
        out = []
        for c in self._calls:
            if m and c["method"].lower() != m:
                continue
            if chat_id is not None and c["chat_id"] != chat_id:
                continue
            if since is not None and c["ts"] < since:
                continue
            out.append(c)
        return out

    def reset_stats(self) -> None:
        self._calls.clear()
        self.throttled_count = 0
        self.error_count = 0

    @property
    def stats(self) -> dict[str, Any]:
        by_status: dict[int, int] = collections.Counter(c["status"] for c in self._calls)
        return {"calls": len(self._calls), "throttled": self.throttled_count,
                "errors": self.error_count, "by_status": dict(by_status)}

    # ------------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _error_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as exc:
            return json_response(exc.body, exc.status)
        except web.HTTPException as exc:
            if request.path.startswith("/bot"):
                return json_response({"ok": False, "error_code": exc.status,
                                      "description": exc.reason}, exc.status)
            raise
        except asyncio.CancelledError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            if request.path.startswith("/_emu/"):
                # control API called with wrongly typed fields
                log.debug("emulator: bad control request %s: %r", request.path, exc)
                return json_response({"ok": False, "error": f"bad request: {exc}"}, 400)
            log.exception("emulator: error handling %s %s", request.method, request.path)
            return json_response({"ok": False, "error_code": 500,
                                  "description": f"Internal Server Error: {exc!r}"}, 500)
        except Exception as exc:  # never let a bad request kill the server
            log.exception("emulator: error handling %s %s", request.method, request.path)
            return json_response({"ok": False, "error_code": 500,
                                  "description": f"Internal Server Error: {exc!r}"}, 500)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method_in = request.match_info["method"]
        if token != self.token:
            return json_response({"ok": False, "error_code": 401,
                                  "description": "Unauthorized"}, 401)
        entry = self._methods.get(method_in.lower())
        name = entry[0] if entry else method_in
        rec: dict[str, Any] = {"method": name, "chat_id": None, "ts": time.time(),
                               "t": self.clock(), "status": 0}
        self._calls.append(rec)
        if entry is None:
            rec["status"] = 404
            return _not_found()
        try:
            params = await read_params(request)
            cid = params.raw("chat_id")
            if cid is not None:
                try:
                    rec["chat_id"] = int(cid)
                except (TypeError, ValueError):
                    rec["chat_id"] = cid
            fault = self._take_fault(method_in.lower(), cid)
            if fault is not None:
                if fault.delay > 0:
                    await asyncio.sleep(fault.delay)
                if fault.status == 0:
                    rec["status"] = 0
                    if request.transport is not None:
                        request.transport.abort()
                    raise asyncio.CancelledError()
                params_out = {"retry_after": fault.retry_after} if fault.retry_after else None
                raise TgError(fault.status, fault.description, params_out)
            result = await entry[1](params)
        except TgError as exc:
            rec["status"] = exc.status
            self.error_count += 1
            return json_response(exc.payload(), exc.status)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # wrongly typed fields deep inside JSON parameters: Telegram answers 400 here
            log.warning("emulator: %s with bad parameters -> 400 (%r)", name, exc, exc_info=True)
            rec["status"] = 400
            self.error_count += 1
            return json_response(bad_request(f"can't parse parameters: {exc}").payload(), 400)
        rec["status"] = 200
        return json_response({"ok": True, "result": result})

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _not_found()
        f = self._files_by_path.get(request.match_info["path"])
        if f is None:
            return _not_found()
        return file_response(f)


def _not_found() -> web.Response:
    return json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
