"""The writer thread's part of ``log_image``: encode the images a flush takes, drop bad ones with a word.

``Run.log_image`` queues ``ImagePending`` records; the writer hands
the records it takes to ``encode_taken`` before writing them (outside its transaction: encoding
a 512x512 image takes tens of ms, the store's write lock is not held meanwhile). An image that
only its values show to be bad (NaN, a file that does not decode, past the byte limit) is dropped
and said once per run and key through ``tracker.notices``; training never sees an exception.

A JAX array still being computed is not read by a flush that need not wait (the flusher's
interval): it stays queued, with the images after it of the same key, for a later flush, as
device scalars do. ``flush()`` and ``finish()`` wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..images import PendingImage, encode, recycle
from ..notices import Once
from ..store.backend import ImageItem

_said = Once()


@dataclass(frozen=True)
class ImagePending:
    """An image logged but not encoded yet (the run side's record; the store gets an ImageItem)."""

    key: str
    step: int
    wall: float
    pending: PendingImage


def encode_taken(records: list[Any], run_id: str, *, wait: bool) -> tuple[list[Any], list[Any]]:
    """(records to write, with images encoded, bad ones left out; image records to keep for a
    later flush: JAX arrays not computed yet when ``wait`` is False)."""
    if not any(type(record) is ImagePending for record in records):
        return records, []
    out: list[Any] = []
    later: list[Any] = []
    held: set[str] = set()  # keys with an image kept for later: their next images wait too
    for record in records:
        if type(record) is not ImagePending:
            out.append(record)
            continue
        key, step, wall, pending = record.key, record.step, record.wall, record.pending
        if key in held or (not wait and not _computed(pending)):
            held.add(key)
            later.append(record)
            continue
        try:
            image = encode(pending)
        except Exception as exc:  # never fatal to training: the image is dropped, said once
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {str(exc)[:200]}"
            _said.warn(f"{run_id}\0{key}", f"run {run_id}: image {key!r} at step {step} was "
                       f"not stored: {reason} (later bad images of this key are dropped "
                       "without a word; training goes on)")
            continue
        recycle(pending)  # its host copy serves the next image of this shape
        out.append(ImageItem(key, step, wall, image))
    return out, later


def _computed(pending: PendingImage) -> bool:
    """Whether reading the image's values now would not wait for a device computation."""
    if pending.kind != "jax":
        return True
    try:
        return bool(pending.value.is_ready())
    except Exception:  # a deleted (donated) array: encode() says so
        return True
