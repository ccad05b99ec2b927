"""A run's captured console lines as TensorBoard text events, one chunk per step range.

TensorBoard has no console: the lines go in as a text summary under the tag ``console``
(``tracker/console`` when the run logged its own text under ``console``). A chunk holds the lines
of consecutive steps, closed at a step boundary once it has ``CHUNK_LINES`` lines or
``CHUNK_BYTES`` of text (a step that printed more than ``MAX_CHUNK_BYTES`` is cut), and is written
at the step of its first line (lines from before the first log() at step 0). Each chunk is shown as
a markdown code block, each line as printed minus its terminal escapes (``display_line``), so no
line can render as markup. Exported incrementally: the state keeps how many lines went out.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..console_text import display_line
from ..read import LoggedLine, Reader
from . import summaries
from .records import frame

TAG = "console"
CHUNK_LINES = 200
CHUNK_BYTES = 32 * 1024
MAX_CHUNK_BYTES = 1024 * 1024
PAGE = 20_000  # lines read per query


def console_tag(text_keys: set[str]) -> str:
    """``console``, or ``tracker/console`` where the run's own texts use that tag."""
    return TAG if TAG not in text_keys else "tracker/" + TAG


def console_records(store: Reader, run_id: str, done: int, tag: str) -> tuple[list[bytes], int]:
    """Framed text events for the run's lines after the first ``done``; and how many lines
    those were."""
    records: list[bytes] = []
    count = 0
    for chunk in _chunks(_lines(store, run_id, done)):
        step = chunk[0].step or 0
        first, last = chunk[0].step, chunk[-1].step
        span = "before the first step" if first is None else (
            f"step {first}" if first == last else f"steps {first}-{last}")
        text = f"{len(chunk)} lines, {span}\n\n" + "".join(
            "    " + display_line(line.text) + "\n" for line in chunk)
        records.append(frame(summaries.text_event(tag, step, chunk[-1].wall, text)))
        count += len(chunk)
    return records, count


def _lines(store: Reader, run_id: str, done: int) -> Iterator[LoggedLine]:
    after = done - 1 if done else None  # seq numbers start at 0 and have no gaps
    while True:
        page = store.console_lines(run_id, after=after, limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].seq


def _chunks(lines: Iterator[LoggedLine]) -> Iterator[list[LoggedLine]]:
    chunk: list[LoggedLine] = []
    size = 0
    for line in lines:
        if chunk and ((line.step != chunk[-1].step
                       and (len(chunk) >= CHUNK_LINES or size >= CHUNK_BYTES))
                      or size + len(line.text) > MAX_CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += len(line.text) + 1
    if chunk:
        yield chunk
