"""What earlier exports wrote, kept as a small JSON file in the output directory.

With it a second export writes only what is new: per run the directory it chose, how many points
of each key went out, and which graphs and profiles were written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import TrackerError

STATE_FILE = ".tracker-export.json"
VERSION = 1


class ExportStateError(TrackerError):
    """The export state file in the output directory cannot be used."""


def load_state(out: Path) -> dict[str, Any]:
    """The state of earlier exports into ``out`` (empty when there were none)."""
    path = out / STATE_FILE
    if not path.exists():
        return {"version": VERSION, "runs": {}}
    try:
        state = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportStateError(
            f"cannot read {path} ({exc}); delete it to export everything again into a fresh folder"
        ) from None
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise ExportStateError(f"{path} is not an export state this tracker understands; "
                               "export into a fresh folder")
    state.setdefault("runs", {})
    return state


def save_state(out: Path, state: dict[str, Any]) -> None:
    """Write the state atomically (a crash never leaves half a file)."""
    path = out / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), "utf-8")
    os.replace(tmp, path)


def run_state(state: dict[str, Any], run_id: str, directory: str) -> dict[str, Any]:
    """The entry of one run, created on its first export."""
    entry = state["runs"].setdefault(run_id, {"dir": directory})
    for key in ("scalars", "histograms", "texts"):
        entry.setdefault(key, {})
    for key in ("graphs", "profiles"):
        entry.setdefault(key, [])
    entry.setdefault("hparams", False)
    entry.setdefault("stamp", 0)
    return entry
