"""What an import file must pass before anything parses it: size, encoding, and for XLSX the zip's
own numbers (uncompressed size, compression ratio, XML rows, cells and columns), so a small hostile
file is refused in milliseconds instead of taking gigabytes and minutes in openpyxl.

The limits are far above the city's base library (tens of thousands of patents) and far below what
hurts the bot's host.
"""
from __future__ import annotations

import gzip
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

MAX_FILE_BYTES = 64 * 1024 * 1024         # the file as uploaded / on disk
MAX_TEXT_BYTES = 256 * 1024 * 1024        # a CSV or JSONL after gunzip
MAX_ROWS = 200_000
MAX_COLUMNS = 200
MAX_CELLS = 5_000_000
MAX_XLSX_UNCOMPRESSED = 256 * 1024 * 1024  # all members together (3,720 exported patents: 6.6 MB)
MAX_SHARED_STRINGS = 128 * 1024 * 1024     # openpyxl holds this part in memory whole
MAX_XLSX_MEMBERS = 1_000
MAX_RATIO = 200                            # uncompressed / compressed, for members over RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
CHUNK = 1 << 20

ENCODINGS = ("utf-8", "gb18030")


class ImportRefused(ValueError):
    """The whole file is refused before any row is read; the message says why."""


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str  # utf-8, utf-8-sig or gb18030


def check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ImportRefused(f"the file is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB "
                            f"(split it into several files)")


def read_text(path: Path) -> DecodedText:
    """The whole text of a CSV / JSONL file (gunzipped within the limit), decoded as UTF-8 (a BOM is
    fine) or, failing that, GB18030 (what Chinese Excel writes as 'CSV'; GBK is a subset)."""
    check_size(path)
    if path.name.lower().endswith(".gz"):
        parts, total = [], 0
        try:
            with gzip.open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    total += len(chunk)
                    if total > MAX_TEXT_BYTES:
                        raise ImportRefused(f"the file unpacks to more than {MAX_TEXT_BYTES // 2**20} MB")
                    parts.append(chunk)
        except (OSError, EOFError, zipfile.BadZipFile) as e:
            raise ImportRefused(f"not a readable gzip file ({e})") from None
        data = b"".join(parts)
    else:
        data = path.read_bytes()
    if b"\x00" in data[:4096] and (data.startswith((b"\xff\xfe", b"\xfe\xff")) or data.count(b"\x00") > 100):
        raise ImportRefused("the file is UTF-16 ('Unicode text'); save it as 'CSV UTF-8' or plain CSV")
    try:
        if data.startswith(b"\xef\xbb\xbf"):
            return DecodedText(data[3:].decode("utf-8"), "utf-8-sig")
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            return DecodedText(data.decode("gb18030"), "gb18030")
        except UnicodeDecodeError:
            line = data[:utf8_error.start].count(b"\n") + 1
            raise ImportRefused(f"line {line}: the text is neither UTF-8 nor GB18030/GBK "
                                f"(byte 0x{data[utf8_error.start]:02x} at offset {utf8_error.start})") from None


_CELL_REF = re.compile(r"^([A-Z]{1,3})(\d+)$")


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


class _SheetCounter:
    """Counts rows, cells and the largest row / column reference of one worksheet's XML as it
    streams through expat, and stops at the first limit crossed."""

    def __init__(self, member: str) -> None:
        self.member = member
        self.rows = self.cells = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(":", 1)[-1]
        if local == "row":
            self.rows += 1
            r = attrs.get("r")
            if self.rows > MAX_ROWS or (r and r.isdigit() and int(r) > MAX_ROWS + 1):
                raise ImportRefused(f"the worksheet has more than {MAX_ROWS:,} rows")
        elif local == "c":
            self.cells += 1
            if self.cells > MAX_CELLS:
                raise ImportRefused(f"the worksheet has more than {MAX_CELLS:,} cells")
            m = _CELL_REF.match(attrs.get("r") or "")
            if m and (_column_index(m.group(1)) > MAX_COLUMNS or int(m.group(2)) > MAX_ROWS + 1):
                raise ImportRefused(f"the worksheet uses cell {m.group(0)}, beyond {MAX_COLUMNS} columns "
                                    f"or {MAX_ROWS:,} rows")


def _no_doctype(*_args: object) -> None:
    raise ImportRefused("the XLSX contains a DTD (entity declarations); Excel never writes one")


def inspect_xlsx(path: Path) -> None:
    """Refuse an XLSX whose zip or XML exceeds the limits, before openpyxl sees it."""
    check_size(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ImportRefused(f"not an XLSX file (not a zip archive: {e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_XLSX_MEMBERS:
            raise ImportRefused(f"the XLSX has {len(infos)} parts; the limit is {MAX_XLSX_MEMBERS}")
        declared = sum(i.file_size for i in infos)
        if declared > MAX_XLSX_UNCOMPRESSED:
            raise ImportRefused(f"the XLSX unpacks to {declared / 2**20:.0f} MB; the limit is "
                                f"{MAX_XLSX_UNCOMPRESSED // 2**20} MB")
        for i in infos:
            if i.filename.endswith("sharedStrings.xml") and i.file_size > MAX_SHARED_STRINGS:
                raise ImportRefused(f"the XLSX's shared strings unpack to {i.file_size / 2**20:.0f} MB; the limit is "
                                    f"{MAX_SHARED_STRINGS // 2**20} MB")
            if i.file_size > RATIO_FLOOR and i.file_size > MAX_RATIO * max(i.compress_size, 1):
                raise ImportRefused(f"the XLSX part {i.filename} is compressed {i.file_size // max(i.compress_size, 1)}:1 "
                                    f"(limit {MAX_RATIO}:1) — a decompression bomb")
        if "xl/workbook.xml" not in {i.filename for i in infos}:
            raise ImportRefused("not an XLSX workbook (xl/workbook.xml is missing)")
        # the sizes above are what the zip declares; count what really comes out while streaming it
        total = 0
        for i in infos:
            if not i.filename.endswith((".xml", ".rels")):
                continue
            counter = _SheetCounter(i.filename) if i.filename.startswith("xl/worksheets/") else None
            parser = expat.ParserCreate()
            parser.StartDoctypeDeclHandler = _no_doctype
            parser.EntityDeclHandler = _no_doctype
            if counter:
                parser.StartElementHandler = counter.start
            try:
                with zf.open(i) as f:
                    while chunk := f.read(CHUNK):
                        total += len(chunk)
                        if total > MAX_XLSX_UNCOMPRESSED:
                            raise ImportRefused(f"the XLSX unpacks to more than {MAX_XLSX_UNCOMPRESSED // 2**20} MB")
                        parser.Parse(chunk, False)
                parser.Parse(b"", True)
            except expat.ExpatError as e:
                raise ImportRefused(f"the XLSX part {i.filename} is not well-formed XML ({e})") from None
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise ImportRefused(f"the XLSX part {i.filename} is damaged ({e})") from None
