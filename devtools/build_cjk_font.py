"""Build the chart font ``bot/fonts/NotoSansSC-Subset.otf``: Noto Sans CJK SC Regular (SIL OFL 1.1),
cut down to the characters the charts can show, so Chinese renders on any machine with no system
font installed.

The subset keeps: printable ASCII and Latin-1, general and CJK punctuation, fullwidth forms, the
6,763 hanzi of GB 2312 (which covers the names of Chinese institutions and counties), and every
character of the Chinese locale and the data files (so each label the program itself writes is in
it). Run it again after adding text with rare characters:

    python3 devtools/build_cjk_font.py [/path/to/NotoSansCJK-Regular.ttc]

(the default path is Debian's ``fonts-noto-cjk``; a developer machine needs it, users never do).
"""
from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bot" / "fonts" / "NotoSansSC-Subset.otf"
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FAMILY = "Noto Sans SC Subset"
TEXT_SOURCES = ("locales/zh/*.j2", "data/*.json", "devtools/*.json", "devtools/demo_data.py")


def gb2312_hanzi() -> set[str]:
    chars = set()
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


def wanted_text() -> str:
    chars = {chr(c) for c in range(0x20, 0x7F)} | {chr(c) for c in range(0xA0, 0x100)}
    chars |= {chr(c) for c in range(0x2000, 0x2070)}  # general punctuation
    chars |= {chr(c) for c in range(0x3000, 0x3040)}  # CJK symbols and punctuation
    chars |= {chr(c) for c in range(0xFF01, 0xFF5F)}  # fullwidth forms
    chars |= set("✓✔✗×÷±−–—…·•→←↑↓℃％")
    chars |= gb2312_hanzi()
    for pattern in TEXT_SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            chars |= set(path.read_text(encoding="utf-8"))
    return "".join(sorted(c for c in chars if c.isprintable()))


def build(source: Path = SOURCE, out: Path = OUT) -> Path:
    collection = TTCollection(str(source))
    font = next(f for f in collection.fonts if f["name"].getDebugName(1) == "Noto Sans CJK SC")
    options = subset.Options()
    options.layout_features = []  # horizontal Latin/CJK text needs no OpenType features here
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = False
    sub = subset.Subsetter(options)
    sub.populate(text=wanted_text())
    sub.subset(font)
    names = font["name"]
    for record in names.names:  # a modified version carries its own name (OFL §3)
        if record.nameID in (1, 16):
            record.string = FAMILY
        elif record.nameID == 4:
            record.string = FAMILY
        elif record.nameID == 6:
            record.string = "NotoSansSC-Subset"
        elif record.nameID == 3:
            record.string = "NotoSansSC-Subset-Regular"
    out.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(out))
    return out


if __name__ == "__main__":
    path = build(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
    print(f"{path} {path.stat().st_size // 1024} KiB")
