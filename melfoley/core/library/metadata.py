"""What a library file says about itself: UCS name, bext Description, iXML, folder names.

- UCS names: ``CatID_FXName_CreatorID_SourceID[_UserData]`` (extended: ``CatID-UserCategory``);
  the CatID maps to a category / subcategory through ``resources/ucs.json``.
- BWF ``bext`` Description (256 bytes at the chunk start) and the ``iXML`` chunk's text
  fields (NOTE, SCENE, TAKE, USER fields, BWF descriptions), read from the RIFF/RF64 chunk
  list without loading the audio. The file is only ever opened for reading.
- Folder names under the library root are a weaker hint, kept as words.
- A ``manifest.csv`` in a library root (columns ``file``, ``licence``, ``attribution``) gives
  per-file licences; the starter library ships one.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..riff import iter_chunks

UCS_PATH = Path(__file__).resolve().parents[2] / "resources" / "ucs.json"
_IXML_FIELDS = ("NOTE", "SCENE", "TAKE", "TAPE", "PROJECT", "CATEGORY", "SUBCATEGORY", "FXNAME", "DESCRIPTION",
                "KEYWORDS", "TRACK_NAME", "NAME", "CATID", "LIBRARY", "BWF_DESCRIPTION")
_WANTED = frozenset((b"bext", b"iXML"))


@dataclass(frozen=True)
class FileMeta:
    catid: str = ""
    category: str = ""
    subcategory: str = ""
    fxname: str = ""
    creator: str = ""
    description: str = ""
    ixml: str = ""
    folders: str = ""
    licence: str = ""
    attribution: str = ""

    def text(self, path: Path) -> str:
        """Everything searchable, as plain words (FTS5 and the text embedding read this)."""
        stem = re.sub(r"[_\-.]+", " ", path.stem)
        parts = [self.fxname, self.category, self.subcategory, self.description, self.ixml, self.folders, stem]
        return re.sub(r"\s+", " ", " ".join(p for p in parts if p)).strip()

    def short(self, path: Path) -> str:
        """The text the embedding reads: the most descriptive fields first (the file name without a UCS FXName)."""
        name = self.fxname or re.sub(r"[_\-.]+", " ", path.stem)
        parts = [name, f"{self.category} {self.subcategory}".strip(), self.description, self.folders]
        return ". ".join(p for p in parts if p).lower()


@lru_cache(maxsize=1)
def ucs_table() -> dict[str, tuple[str, str]]:
    obj = json.loads(UCS_PATH.read_text())
    return {k: (v[0], v[1]) for k, v in obj["catids"].items()}


def parse_ucs(stem: str) -> dict[str, str]:
    """Fields of a UCS file name stem, or {} when it is not one (its CatID must be known)."""
    fields = stem.split("_")
    if len(fields) < 3:
        return {}
    catid = fields[0].split("-")[0]
    table = ucs_table()
    if catid in table:
        cat, sub = table[catid]
    else:
        return {}
    fx = fields[1]
    if "-" in fx:  # extended form: VendorCategory-FXName
        fx = fx.split("-", 1)[1]
    return {"catid": catid, "category": cat, "subcategory": sub, "fxname": fx.strip(),
            "creator": fields[2].strip() if len(fields) > 2 else ""}


def read_chunks(path: Path) -> tuple[str, str]:
    """(bext Description, iXML words) of a WAV file; ('', '') for other formats or on any problem."""
    try:
        with open(path, "rb") as fh:  # bext and iXML bodies (their first 1 MB), in a bounded walk
            chunks = {tag: body for tag, _, body in iter_chunks(fh, read=_WANTED.__contains__, max_body=1 << 20,
                                                                max_chunks=256) if body is not None}
    except (OSError, ValueError):  # NotWave is a ValueError
        return "", ""
    desc = ""
    if b"bext" in chunks:
        desc = chunks[b"bext"][:256].split(b"\x00", 1)[0].decode("latin-1", "replace").strip()
    words = ""
    if b"iXML" in chunks:
        words = ixml_words(chunks[b"iXML"].decode("utf-8", "replace"))
    return desc, words


def ixml_words(xml: str) -> str:
    """The descriptive text fields of an iXML document (tags of :data:`_IXML_FIELDS`), space-joined."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml.strip("\x00 \r\n\t"))
    except ET.ParseError:
        return ""
    got = []
    for el in root.iter():
        tag = el.tag.split("}")[-1].upper()
        if tag in _IXML_FIELDS and el.text and el.text.strip():
            got.append(el.text.strip())
    return " ".join(dict.fromkeys(got))[:2000]


def folder_words(path: Path, root: Path) -> str:
    """The folders from the library root (its own name included) down to the file, as words."""
    try:
        rel = path.parent.relative_to(root)
    except ValueError:
        return ""
    return " ".join(re.sub(r"[_\-.]+", " ", p) for p in (root.name, *rel.parts))


def read_licences(root: Path) -> dict[str, tuple[str, str]]:
    """``manifest.csv`` of a library root: relative path -> (licence, attribution); {} when absent."""
    m = root / "manifest.csv"
    if not m.is_file():
        return {}
    out = {}
    try:
        with m.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                f = row.get("file") or row.get("path")
                if f:
                    out[f] = (row.get("licence") or row.get("license") or "", row.get("attribution") or "")
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}
    return out


def file_meta(path: Path, root: Path, licences: dict[str, tuple[str, str]] | None = None) -> FileMeta:
    ucs = parse_ucs(path.stem)
    desc, ixml = read_chunks(path) if path.suffix.lower() in (".wav", ".bwf", ".rf64", ".w64", ".wave") else ("", "")
    lic = ("", "")
    if licences:
        try:
            lic = licences.get(path.relative_to(root).as_posix(), ("", ""))
        except ValueError:
            pass
    return FileMeta(catid=ucs.get("catid", ""), category=ucs.get("category", ""),
                    subcategory=ucs.get("subcategory", ""), fxname=ucs.get("fxname", ""),
                    creator=ucs.get("creator", ""), description=desc, ixml=ixml,
                    folders=folder_words(path, root), licence=lic[0], attribution=lic[1])
