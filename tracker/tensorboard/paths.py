"""Directory names for exported runs that are safe on any file system and never leave OUT/."""

from __future__ import annotations

import re
import unicodedata

MAX_PART_BYTES = 96  # well under the 255-byte name limit of ext4/APFS/NTFS, with room for the id
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_KEEP = "-_.+=@,"


def safe_part(text: str, fallback: str = "run") -> str:
    """One path component built from ``text``: letters, digits and ``-_.+=@,`` only.

    Separators, control characters, characters that some file systems forbid and characters that
    cannot be encoded (lone surrogates) become '_'; leading dots are dropped (no '..', no hidden
    directories); Windows device names get a '_' prefix; the result is cut to MAX_PART_BYTES.
    """
    text = unicodedata.normalize("NFC", str(text))
    out = []
    for ch in text:
        ok = (ch.isalnum() or ch in _KEEP) and _encodable(ch)
        out.append(ch if ok else "_")
    name = re.sub(r"_+", "_", "".join(out)).lstrip(".").rstrip(". ")
    if not name.strip("_"):
        name = fallback
    if _WINDOWS_RESERVED.match(name):
        name = "_" + name
    encoded = name.encode("utf-8")
    if len(encoded) > MAX_PART_BYTES:
        name = encoded[:MAX_PART_BYTES].decode("utf-8", "ignore").rstrip(". ")
    return name


def _encodable(ch: str) -> bool:
    try:
        ch.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def run_dir_name(project: str, name: str, run_id: str) -> str:
    """``<project>/<run name>-<id>``, every part made safe."""
    return f"{safe_part(project, 'project')}/{safe_part(name)}-{safe_part(run_id, 'id')}"
