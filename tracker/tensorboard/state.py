"""What earlier exports wrote, kept as a small JSON file in the output directory.

With it a second export writes only what is new: per run the directory it chose, how many points
of each key went out, which graphs and profiles were written and the files that hold them. One
export at a time per output directory (a lock file beside the state): two at once would both
write what is new.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import TrackerError
from .outdir import Folder

STATE_FILE = ".tracker-export.json"
LOCK_FILE = ".tracker-export.lock"
LOCK_WAIT_S = 60.0  # how long an export waits for another one into the same folder
VERSION = 1


class ExportStateError(TrackerError):
    """The export state file in the output directory cannot be used."""


def load_state(out: Folder) -> dict[str, Any]:
    """The state of earlier exports into ``out`` (empty when there were none)."""
    path = out.path / STATE_FILE
    try:
        raw = out.read_file(STATE_FILE)
        if raw is None:
            return {"version": VERSION, "runs": {}}
        state = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportStateError(
            f"cannot read {path} ({exc}); delete it to export everything again into a fresh folder"
        ) from None
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise ExportStateError(f"{path} is not an export state this tracker understands; "
                               "export into a fresh folder")
    runs = state.setdefault("runs", {})
    if not isinstance(runs, dict) or not all(_valid_entry(e) for e in runs.values()):
        raise ExportStateError(f"{path} is damaged; delete it to export everything again")
    return state


def _valid_entry(entry: Any) -> bool:
    """True when a run's entry has the types the export relies on (the file may be edited)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("dir"), str):
        return False
    counts = [entry.get(k, {}) for k in ("scalars", "histograms", "texts", "images")]
    ids = [entry.get(k, []) for k in ("graphs", "profiles")]
    return (all(isinstance(c, dict) and all(type(n) is int for n in c.values()) for c in counts)
            and all(isinstance(i, list) and all(type(n) is int for n in i) for i in ids)
            and isinstance(entry.get("files", []), list)
            and all(isinstance(f, str) for f in entry.get("files", []))
            and type(entry.get("stamp", 0)) is int
            and type(entry.get("console_lines", 0)) is int)


def save_state(out: Folder, state: dict[str, Any]) -> None:
    """Write the state atomically (a crash never leaves half a file, a link is never followed)."""
    out.write_file(STATE_FILE, [json.dumps(state, indent=1, sort_keys=True).encode("utf-8")])


def run_state(state: dict[str, Any], run_id: str, directory: str) -> dict[str, Any]:
    """The entry of one run, created on its first export.

    ``files`` lists every file the exports wrote under the run's folder (paths relative to it):
    a file there that it does not list was left by an export killed before it could save the
    state, and is removed before the run is written again (its points are written again).
    """
    entry = state["runs"].setdefault(run_id, {"dir": directory, "files": []})
    for key in ("scalars", "histograms", "texts", "images"):
        entry.setdefault(key, {})
    for key in ("graphs", "profiles"):
        entry.setdefault(key, [])
    entry.setdefault("hparams", False)
    entry.setdefault("stamp", 0)
    return entry


@contextmanager
def export_lock(out: Folder) -> Iterator[None]:
    """Hold the output folder's export lock (waiting up to ``LOCK_WAIT_S`` for another export)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (exports into one folder must not overlap)
        yield
        return
    fd = out.open_lock(LOCK_FILE)
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ExportStateError(
                        f"another export into {out.path} is still running after"
                        f" {LOCK_WAIT_S:.0f} s; run this one when it ends, or export into another"
                        " folder"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing releases the lock
