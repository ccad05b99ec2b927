"""What may name a run: an id, a unique id prefix or a unique name, never blank."""

from __future__ import annotations


def check_run_ref(ref: str, what: str = "run reference") -> str:
    """Return ``ref`` if it can name a run.

    Raises:
        ValueError: ``ref`` is not a string, or empty or only whitespace (an empty prefix would
            match every run).
    """
    if not isinstance(ref, str):
        raise ValueError(f"{what} must be a run id, id prefix or name, not {ref!r}")
    if not ref.strip():
        raise ValueError(f"{what} is empty; give a run id, id prefix or name (see `tracker ls`)")
    return ref
