"""Bot API methods on files: sendDocument, sendPhoto (by upload, file id or URL) and getFile."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from aiohttp import ClientTimeout

from .answers import TgError, bad_request
from .files import MAX_FILE_DOWNLOAD, StoredFile, document_json, image_size, photo_json
from .validation import Params, prepare_text, validate_markup


class MediaMethods:
    async def _m_sendDocument(self, p: Params) -> dict[str, Any]:
        return await self._send_media(p, "senddocument", "document")

    async def _m_sendPhoto(self, p: Params) -> dict[str, Any]:
        return await self._send_media(p, "sendphoto", "photo")

    async def _send_media(self, p: Params, method: str, kind: str) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        self._check_send(method, chat)
        caption, cap_ents = prepare_text(
            p.str("caption"), p.str("parse_mode"),
            p.json("caption_entities", error="can't parse entities JSON object"), caption=True)
        markup = validate_markup(p.json("reply_markup"), chat)
        fields = self._reply_fields(p, chat)
        f = await self._input_file(p, kind, kind)
        if kind == "photo":
            fields["photo"] = photo_json(f)
        else:
            fields["document"] = document_json(f)
        if caption:
            fields["caption"] = caption
            if cap_ents:
                fields["caption_entities"] = cap_ents
        if p.bool("protect_content"):
            fields["has_protected_content"] = True
        if markup:
            fields["reply_markup"] = markup
        return self._new_message(chat, from_bot=True, fields=fields).msg

    async def _m_getFile(self, p: Params) -> dict[str, Any]:
        fid = p.str("file_id")
        if not fid:
            raise bad_request("file_id is empty")
        f = self.files.get(fid.strip())
        if f is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        if f.size > MAX_FILE_DOWNLOAD:
            raise bad_request("file is too big")
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id,
                "file_size": f.size, "file_path": f.file_path}

    # ---- the file a sending method names

    def _resolve_input_file(self, p: Params,
                            name: str) -> tuple[StoredFile | None, dict | None, str | None]:
        """Returns (existing_file, upload_part, url)."""
        if name in p.files:
            return None, p.files[name], None
        v = p.str(name)
        if not v:
            raise bad_request(f"there is no {name} in the request")
        v = v.strip()
        if v.startswith("attach://"):
            part = p.files.get(v[len("attach://"):])
            if part is None:
                raise bad_request(f"wrong remote file identifier specified: can't find {v}")
            return None, part, None
        if v in self.files:
            return self.files[v], None, None
        if re.match(r"^https?://", v, re.IGNORECASE):
            return None, None, v
        raise bad_request("wrong file identifier/HTTP URL specified")

    async def _fetch_url(self, url: str) -> tuple[bytes, str | None, str | None]:
        if self._http is None:
            raise bad_request("failed to get HTTP URL content")
        try:
            async with self._http.get(url, timeout=ClientTimeout(total=5)) as resp:
                if resp.status != 200:
                    raise bad_request("failed to get HTTP URL content")
                data = await resp.read()
                name = url.rsplit("/", 1)[-1].split("?")[0] or None
                return data, name, resp.content_type
        except TgError:
            raise
        except Exception:  # noqa: BLE001
            raise bad_request("failed to get HTTP URL content") from None

    async def _input_file(self, p: Params, name: str, kind: str) -> StoredFile:
        existing, part, url = self._resolve_input_file(p, name)
        if existing is not None:
            if kind == "photo" and existing.kind != "photo":
                raise bad_request("wrong file identifier/HTTP URL specified")
            if kind == "document" and existing.kind == "photo":
                raise bad_request("can't use file of type Photo as Document")
            return existing
        if part is not None:
            data, fname, ctype = part["data"], part["filename"], part["content_type"]
        else:
            assert url is not None
            data, fname, ctype = await self._fetch_url(url)
        if not data:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            if image_size(data) is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            if len(data) > 10 * 1024 * 1024:
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
        if ctype in (None, "", "application/octet-stream") and fname:
            ctype = mimetypes.guess_type(fname)[0] or ctype
        return self.store_file(data, fname, ctype or "application/octet-stream", kind)
