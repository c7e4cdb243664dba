"""Files: what the bot and the users upload, kept in memory under Telegram-like file ids."""

from __future__ import annotations

import base64
import hashlib
import itertools
import mimetypes
import re
import secrets
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

MAX_FILE_DOWNLOAD = 20 * 1024 * 1024
MAX_UPLOAD = 50 * 1024 * 1024


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    kind: str  # "document" | "photo"
    file_path: str
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        return len(self.data)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of PNG / GIF / JPEG / WEBP data, or None if not an image."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                b = data[21:25]
                w = 1 + (((b[1] & 0x3F) << 8) | b[0])
                h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
                return w, h
            return 1, 1
        if data[:2] == b"\xff\xd8":
            i = 2
            n = len(data)
            while i + 9 < n:
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                seg_len = struct.unpack(">H", data[i + 2:i + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h
                i += 2 + seg_len
            return None
    except (struct.error, IndexError):
        return None
    return None


def document_json(f: StoredFile) -> dict[str, Any]:
    """The Bot API ``Document`` object of a stored file."""
    d: dict[str, Any] = {"file_id": f.file_id, "file_unique_id": f.file_unique_id,
                         "file_size": f.size}
    if f.file_name:
        d["file_name"] = f.file_name
    if f.mime_type:
        d["mime_type"] = f.mime_type
    return d


def photo_json(f: StoredFile) -> list[dict[str, Any]]:
    """The Bot API ``PhotoSize`` list of a stored photo (one size)."""
    return [{"file_id": f.file_id, "file_unique_id": f.file_unique_id,
             "file_size": f.size, "width": f.width, "height": f.height}]


def file_response(f: StoredFile, inline: bool = False) -> web.Response:
    """The file's bytes as a download (photos and ``inline`` ones shown in the browser)."""
    name = f.file_name or f.file_path.rsplit("/", 1)[-1]
    disp = "inline" if inline or f.kind == "photo" else "attachment"
    ascii_name = re.sub(r'[^A-Za-z0-9._-]', "_", name) or "file"
    return web.Response(body=f.data, content_type=f.mime_type or "application/octet-stream",
                        headers={"Content-Disposition":
                                 f"{disp}; filename=\"{ascii_name}\"; "
                                 f"filename*=UTF-8''{quote(name)}"})


class FileStore:
    """The emulator's files, by file id and by download path."""

    def _init_files(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)

    def store_file(self, data: bytes, file_name: str | None, mime_type: str | None,
                   kind: str = "document") -> StoredFile:
        """Register bytes as a Telegram file and return its record (file_id etc.)."""
        n = next(self._file_counter)
        prefix = "AgACAgUAAxkBAAI" if kind == "photo" else "BQACAgUAAxkBAAI"
        file_id = prefix + base64.urlsafe_b64encode(
            n.to_bytes(4, "big") + secrets.token_bytes(20)).decode().rstrip("=")
        unique = "AQAD" + base64.urlsafe_b64encode(
            hashlib.sha1(data + n.to_bytes(4, "big")).digest()[:9]).decode().rstrip("=")
        ext = ""
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1][:10]
        elif mime_type:
            ext = mimetypes.guess_extension(mime_type) or ""
        if kind == "photo":
            ext = ext or ".jpg"
        folder = "photos" if kind == "photo" else "documents"
        path = f"{folder}/file_{n}{re.sub(r'[^A-Za-z0-9.]', '', ext)}"
        f = StoredFile(file_id, unique, data, file_name, mime_type, kind, path)
        if kind == "photo":
            f.width, f.height = image_size(data) or (0, 0)
        self.files[file_id] = f
        self._files_by_path[path] = f
        return f

    def file_bytes(self, file_id: str) -> tuple[bytes, str | None, str | None]:
        f = self.files.get(file_id)
        if f is None:
            raise KeyError(file_id)
        return f.data, f.file_name, f.mime_type
