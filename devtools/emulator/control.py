"""The control HTTP API under ``/_emu/`` (used by tests, :class:`devtools.client.SimUser` and the
playground page) and the playground page itself. Each handler calls the emulator method of the
same meaning, so everything here can also be done in-process."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from .answers import ControlError, json_response
from .files import file_response
from .limits import RateLimits

STATIC_DIR = Path(__file__).parent.parent / "static"


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        return {k: v for k, v in form.items()}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ControlError(400, f"bad JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError(400, "JSON body must be an object")
    return body


def _need(body: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if body.get(n) in (None, "")]
    if missing:
        raise ControlError(400, f"missing field(s): {', '.join(missing)}")


def _qfloat(request: web.Request, name: str, default: float, cap: float = 60.0) -> float:
    try:
        return max(0.0, min(cap, float(request.query.get(name, default))))
    except ValueError:
        raise ControlError(400, f"{name} must be a number") from None


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# a browser marks its own page's requests "same-origin" and typed-in or bookmarked ones "none"
SAME_SITE_FETCHES = ("same-origin", "none")


# the content types a page on another site may POST without a CORS preflight
CROSS_SITE_FORM_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


def refusal(request: web.Request, bound_host: str, port: int) -> str | None:
    """Why a control request must be refused, or None. The control API acts as every simulated user,
    the admin included, so only this machine's own page and non-browser clients may use it: a Host
    other than a loopback name or the bound address (DNS rebinding), a cross-site Origin or
    Sec-Fetch-Site (a web page the developer visits), and a POST body other than JSON (the content
    types a cross-site form may send without asking first) are refused."""
    allowed = {f"{name}:{port}" for name in (*LOOPBACK_NAMES, bound_host) if name not in ("", "0.0.0.0", "::")}
    host = request.headers.get("Host", "").lower()
    if host not in allowed:
        return "unexpected Host"
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() not in {f"http://{h}" for h in allowed}:
        return "cross-origin request"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in SAME_SITE_FETCHES:
        return "cross-site request"
    if request.method == "POST" and (request.can_read_body or "Content-Type" in request.headers):
        allowed_types = ("application/json", "multipart/form-data") if request.path == "/_emu/upload" \
            else ("application/json",)
        # an empty POST of a type no cross-site form can send (aiohttp's client says octet-stream) is a
        # plain command such as reset_stats; the types a form sends without a preflight stay refused
        bodiless = request.content_length == 0 and request.content_type not in CROSS_SITE_FORM_TYPES
        if request.content_type not in allowed_types and not bodiless:
            return "the control API takes JSON"
    return None


class ControlAPI:
    @web.middleware
    async def _control_guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_emu/"):
            why = refusal(request, self._host, self.port)
            if why is not None:
                return json_response({"ok": False, "error": why}, 403)
        return await handler(request)

    def _add_control_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/_emu/bot", self._c_bot)
        r.add_get("/_emu/users", self._c_users_get)
        r.add_post("/_emu/users", self._c_users_post)
        r.add_post("/_emu/groups", self._c_groups_post)
        r.add_post("/_emu/send", self._c_send)
        r.add_post("/_emu/press", self._c_press)
        r.add_post("/_emu/inline", self._c_inline)
        r.add_get("/_emu/inline/{qid}", self._c_inline_get)
        r.add_post("/_emu/choose_inline", self._c_choose_inline)
        r.add_post("/_emu/upload", self._c_upload)
        r.add_get("/_emu/chats/{chat_id}/messages", self._c_transcript)
        r.add_get("/_emu/files/{file_id}", self._c_file)
        r.add_get("/_emu/updates/{update_id}", self._c_update)
        r.add_get("/_emu/calls", self._c_calls)
        r.add_post("/_emu/reset_stats", self._c_reset_stats)
        r.add_post("/_emu/block", self._c_block)
        r.add_get("/_emu/faults", self._c_faults_get)
        r.add_post("/_emu/faults", self._c_faults_post)
        r.add_delete("/_emu/faults", self._c_faults_delete)
        r.add_post("/_emu/rate_limits", self._c_rate_limits)
        r.add_get("/_emu/commands", self._c_commands)
        r.add_get("/_emu/state", self._c_state)
        r.add_get("/", self._handle_index)
        r.add_get("/static/{name}", self._handle_static)

    # ---- the bot and its users

    async def _c_bot(self, request: web.Request) -> web.Response:
        lang = request.query.get("language_code") or ""
        return json_response({
            **self.bot_user,
            "description": self.description(lang),
            "short_description": self.short_description(lang),
            "commands": self.commands_for(),
            "webhook": bool(self._webhook),
            "instance": self.instance})

    async def _c_users_get(self, request: web.Request) -> web.Response:
        return json_response(self.list_users())

    async def _c_users_post(self, request: web.Request) -> web.Response:
        b = await _body(request)
        _need(b, "id")
        try:
            uid = int(b["id"])
            user = self.add_user(uid, b.get("first_name") or f"User{uid}",
                                 username=b.get("username"),
                                 language_code=b.get("language_code", "zh-hans"),
                                 last_name=b.get("last_name"), label=b.get("label"))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        return json_response({**user, "label": self.user_label(uid)})

    async def _c_groups_post(self, request: web.Request) -> web.Response:
        b = await _body(request)
        _need(b, "chat_id", "title")
        try:
            chat = self.add_group(int(b["chat_id"]), b["title"], [int(x) for x in
                                                                  b.get("member_ids") or []],
                                  type=b.get("type", "group"))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        return json_response(chat)

    async def _c_commands(self, request: web.Request) -> web.Response:
        try:
            uid = int(request.query["user_id"]) if request.query.get("user_id") else None
            cid = int(request.query["chat_id"]) if request.query.get("chat_id") else None
        except ValueError:
            raise ControlError(400, "user_id / chat_id must be integers") from None
        return json_response(self.commands_for(uid, cid, request.query.get("language_code")))

    # ---- what users do

    async def _c_send(self, request: web.Request) -> web.Response:
        b = await _body(request)
        _need(b, "user_id", "text")
        return json_response(self.user_send(b["user_id"], b["text"], b.get("chat_id"),
                                            reply_to_message_id=b.get("reply_to_message_id")))

    async def _c_press(self, request: web.Request) -> web.Response:
        b = await _body(request)
        _need(b, "user_id")
        return json_response(self.press(b["user_id"], b.get("label"),
                                        callback_data=b.get("callback_data"),
                                        message_id=b.get("message_id"),
                                        chat_id=b.get("chat_id"),
                                        stale=bool(b.get("stale", False))))

    async def _c_inline(self, request: web.Request) -> web.Response:
        b = await _body(request)
        _need(b, "user_id")
        return json_response(self.inline_query(b["user_id"], b.get("query") or "",
                                               b.get("offset") or "", b.get("chat_type")))

    async def _c_inline_get(self, request: web.Request) -> web.Response:
        qid = request.match_info["qid"]
        wait = _qfloat(request, "wait", 0.0)
        try:
            ans = await self.wait_inline_answer(qid, wait)
        except KeyError:
            raise ControlError(404, f"inline query {qid} not found") from None
        return json_response({"inline_query_id": qid, "answered": ans is not None,
                              **(ans or {"results": []})})

    async def _c_choose_inline(self, request: web.Request) -> web.Response:
        b = await _body(request)
        _need(b, "user_id", "inline_query_id", "result_id")
        return json_response(self.choose_inline(b["user_id"], b["inline_query_id"],
                                                b["result_id"], b.get("chat_id")))

    async def _c_upload(self, request: web.Request) -> web.Response:
        if request.content_type == "multipart/form-data":
            form = await request.post()
            f = form.get("file")
            if not isinstance(f, web.FileField):
                raise ControlError(400, "multipart field 'file' missing")
            data = f.file.read()
            filename = str(form.get("filename") or f.filename or "file")
            mime = form.get("mime_type") or (f.content_type if f.content_type not in (
                None, "application/octet-stream") else None)
            fields = {k: v for k, v in form.items() if not isinstance(v, web.FileField)}
        else:
            fields = await _body(request)
            _need(fields, "filename", "data_base64")
            try:
                data = base64.b64decode(fields["data_base64"])
            except (ValueError, TypeError):
                raise ControlError(400, "data_base64 is not valid base64") from None
            filename = fields["filename"]
            mime = fields.get("mime_type")
        _need(fields, "user_id")
        as_photo = str(fields.get("as_photo", "")).lower() in ("1", "true", "yes")
        return json_response(self.upload(fields["user_id"], filename, data,
                                         mime_type=str(mime) if mime else None,
                                         caption=fields.get("caption") or None,
                                         chat_id=fields.get("chat_id") or None,
                                         as_photo=as_photo))

    async def _c_block(self, request: web.Request) -> web.Response:
        b = await _body(request)
        _need(b, "user_id")
        blocked = b.get("blocked", True)
        blocked = blocked if isinstance(blocked, bool) else str(blocked).lower() in ("1", "true")
        if b.get("deactivated") is not None:
            self.deactivate_user(int(b["user_id"]), bool(b["deactivated"]))
        else:
            self.block_user(int(b["user_id"]), blocked)
        return json_response({"ok": True})

    # ---- what users see

    async def _c_transcript(self, request: web.Request) -> web.Response:
        try:
            chat_id = int(request.match_info["chat_id"])
            after = int(request.query.get("after_seq", "0") or 0)
        except ValueError:
            raise ControlError(400, "chat_id / after_seq must be integers") from None
        wait = _qfloat(request, "wait", 0.0)
        # a page that knew another emulator instance must hear about this one at once, not after a wait
        if wait > 0 and (request.query.get("instance") or self.instance) == self.instance:
            await self.wait_chat(chat_id, after, wait)
        return json_response(self.transcript(chat_id, after))

    async def _c_file(self, request: web.Request) -> web.Response:
        fid = request.match_info["file_id"]
        f = self.files.get(fid)
        if f is None:
            raise ControlError(404, "file not found")
        return file_response(f, inline=request.query.get("inline") == "1")

    async def _c_update(self, request: web.Request) -> web.Response:
        try:
            uid = int(request.match_info["update_id"])
        except ValueError:
            raise ControlError(400, "update_id must be an integer") from None
        if uid not in self._update_types:
            raise ControlError(404, f"update {uid} not found")
        wait = _qfloat(request, "wait", 0.0)
        if wait > 0:
            await self.wait_delivered(uid, wait)
        return json_response({"update_id": uid, "type": self._update_types[uid],
                              "delivered": uid in self._delivered})

    # ---- what the bot called, faults and limits

    async def _c_calls(self, request: web.Request) -> web.Response:
        cid = request.query.get("chat_id")
        try:
            chat_id = int(cid) if cid else None
            since = float(request.query["since"]) if request.query.get("since") else None
        except ValueError:
            raise ControlError(400, "chat_id / since must be numbers") from None
        calls = self.calls(request.query.get("method") or None, chat_id, since)
        return json_response({"calls": calls, "count": len(calls), "stats": self.stats})

    async def _c_reset_stats(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return json_response({"ok": True})

    async def _c_faults_get(self, request: web.Request) -> web.Response:
        return json_response([dataclasses.asdict(f) for f in self._faults])

    async def _c_faults_post(self, request: web.Request) -> web.Response:
        b = await _body(request)
        _need(b, "status")
        try:
            f = self.inject_fault(b.get("method"), status=int(b["status"]),
                                  description=b.get("description") or "",
                                  count=int(b.get("count", 1)),
                                  retry_after=int(b["retry_after"]) if b.get("retry_after")
                                  is not None else None,
                                  chat_id=int(b["chat_id"]) if b.get("chat_id") is not None
                                  else None,
                                  delay=float(b.get("delay", 0)))
        except (TypeError, ValueError) as exc:
            raise ControlError(400, f"bad fault spec: {exc}") from None
        return json_response(dataclasses.asdict(f))

    async def _c_faults_delete(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return json_response({"ok": True})

    async def _c_rate_limits(self, request: web.Request) -> web.Response:
        b = await _body(request)
        if not b or b.get("enabled") is False:
            self.set_rate_limits(None)
        else:
            names = {f.name for f in dataclasses.fields(RateLimits)}
            try:
                self.set_rate_limits(RateLimits(**{k: type(getattr(RateLimits, k))(v)
                                                   for k, v in b.items() if k in names}))
            except (TypeError, ValueError) as exc:
                raise ControlError(400, f"bad rate limits: {exc}") from None
        rl = self._rate_limits
        return json_response({"enabled": rl is not None,
                              **(dataclasses.asdict(rl) if rl else {})})

    async def _c_state(self, request: web.Request) -> web.Response:
        return json_response({"instance": self.instance, "pending_updates": len(self._updates),
                              "webhook": dict(self._webhook) if self._webhook else None,
                              "seq": self._seq, "users": len(self.users),
                              "chats": len(self.chats), "files": len(self.files),
                              "rate_limits": dataclasses.asdict(self._rate_limits)
                              if self._rate_limits else None, **self.stats})

    # ---- the playground page

    async def _handle_index(self, request: web.Request) -> web.StreamResponse:
        if not self.serve_playground:
            return web.Response(text="Telegram Bot API emulator. Playground disabled.\n")
        return web.FileResponse(STATIC_DIR / "playground.html",
                                headers={"Cache-Control": "no-cache"})

    async def _handle_static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not self.serve_playground or not re.match(r"^[A-Za-z0-9_.-]+$", name) or \
                name.startswith("."):
            raise web.HTTPNotFound()
        path = STATIC_DIR / name
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})
