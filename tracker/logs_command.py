"""``tracker logs RUN``: a run's captured console output, filtered, or followed live like tail -f."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

import click

from .cli_options import db_option

if TYPE_CHECKING:
    from .read import LoggedLine, Reader

FOLLOW_POLL_S = 0.25  # how often -f asks the store for new lines
PAGE = 10_000  # lines read per query: a 100 MB log is printed in bounded memory


@click.command("logs")
@click.argument("run")
@click.option("-f", "--follow", is_flag=True,
              help="Keep printing new lines until the run ends (Ctrl-C stops).")
@click.option("--grep", metavar="TEXT", default=None,
              help="Only lines containing TEXT (case-sensitive, literal).")
@click.option("--stream", type=click.Choice(["stdout", "stderr"]), default=None,
              help="Only lines of this stream.")
@click.option("--since", "since", metavar="STEP", type=int, default=None,
              help="Only lines printed at this step or later.")
@click.option("-n", "--lines", "last", metavar="N", type=click.IntRange(min=0), default=None,
              help="Only the last N lines (then, with -f, what comes).")
@db_option
def logs_command(run: str, follow: bool, grep: str | None, stream: str | None,
                 since: int | None, last: int | None, db: str | None) -> None:
    """Print a run's console output (what it printed to stdout and stderr), one line each.

    Colour and cursor escapes are left out and other control characters shown as marks, so the
    output never drives your terminal. Lines printed before the run's first log() have no step,
    so --since leaves them out.

    Example: tracker logs mnist-3 --grep NaN --stream stderr
    """
    from .read import open_store

    out = sys.stdout
    try:
        with open_store(db) as store:
            run_id = store.resolve(run)
            filters = {"stream": stream, "grep": grep, "since_step": since}
            seq = _print_existing(store, run_id, filters, last, out)
            if follow:
                _follow(store, run_id, filters, seq, out)
    except KeyboardInterrupt:  # Ctrl-C while following: the usual way out, no traceback
        sys.exit(130)
    except BrokenPipeError:  # `tracker logs RUN | head`: the reader has what it wanted
        _quiet_stdout()


def _print_existing(store: Reader, run_id: str, filters: dict, last: int | None,
                    out: TextIO) -> int | None:
    """Print what is stored now; return the seq of the last line printed (None: none)."""
    seq = None
    if last is not None:
        lines = store.console_lines(run_id, limit=last, last=True, **filters)
        if not lines:  # nothing matches yet: -f starts after what is stored now
            tail = store.console_lines(run_id, limit=1, last=True)
            return tail[-1].seq if tail else None
        _write(lines, out)
        return lines[-1].seq
    while True:
        lines = store.console_lines(run_id, after=seq, limit=PAGE, **filters)
        _write(lines, out)
        if len(lines) < PAGE:
            return lines[-1].seq if lines else seq
        seq = lines[-1].seq


def _follow(store: Reader, run_id: str, filters: dict, seq: int | None, out: TextIO) -> None:
    """Print new lines as they are stored, until the run is no longer running."""
    while True:
        runs = store.runs(ids=[run_id], last_values=False)
        ended = not runs or runs[0].status != "running"  # (deleted: ended too)
        while True:  # read before deciding: lines stored with the run's end are printed
            lines = store.console_lines(run_id, after=seq, limit=PAGE, **filters)
            _write(lines, out)
            if lines:
                seq = lines[-1].seq
            if len(lines) < PAGE:
                break
        if ended:
            return
        time.sleep(FOLLOW_POLL_S)


def _write(lines: list[LoggedLine], out: TextIO) -> None:
    if not lines:
        return
    from .console_text import display_line

    out.write("".join(display_line(line.text) + "\n" for line in lines))
    out.flush()


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's last flush is silent."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
