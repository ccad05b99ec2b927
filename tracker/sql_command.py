"""``tracker sql``: one read-only SQL statement over the store, printed as a table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import click

from .cli_options import db_option
from .literal import shown


@click.command("sql")
@click.argument("query")
@click.option("--table", "fmt", flag_value="table", default=True, help="Aligned columns (default).")
@click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")
@click.option("--json", "fmt", flag_value="json", help="A JSON list of objects.")
@db_option
def sql_command(query: str, fmt: str, db: str | None) -> None:
    """Run one SQL statement on the store, read-only.

    Besides the tables (runs, series, ...), the view metrics gives every logged scalar as a
    row: project, run, run_id, key, step, wall, value (NaN is NULL). It unpacks points in
    Python, about 0.15 s per 100,000 points: filter on run and key, aggregate in SQL.

    Example: tracker sql "SELECT run, max(value) FROM metrics WHERE key = 'acc' GROUP BY run"
    """
    from .paths import resolve_db_path
    from .store.sqlite.user_sql import open_for_sql, run_query

    path = resolve_db_path(db)
    conn = open_for_sql(path)
    try:
        columns, rows = run_query(conn, query, path)
        _WRITERS[fmt](columns, rows, sys.stdout)
    finally:
        conn.close()


def _cell(value: Any) -> str:
    """A value as text: NULL empty, floats exact (repr), blobs as an SQL hex literal."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"x'{value.hex()}'"
    return repr(value) if isinstance(value, float) else str(value)


def _write_table(columns: list[str], rows: Iterable[tuple], out: TextIO) -> None:
    cells = [[shown(_cell(v)) for v in row] for row in rows]
    if not columns:
        return
    heads = [shown(c) for c in columns]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(heads)]
    numeric = [all(_is_number(r[i]) for r in cells) for i in range(len(heads))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    out.write(line(heads) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write(line(r) + "\n")
    if not cells:
        out.write("(no rows)\n")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == ""
    return True


def _write_csv(columns: list[str], rows: Iterable[tuple], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    if out.isatty():  # text from runs as it is, unless a terminal would act on its escapes
        writer.writerow([shown(c) for c in columns])
        writer.writerows([shown(_cell(v)) for v in row] for row in rows)
        return
    writer.writerow(columns)  # None is written empty, floats exactly (repr)
    writer.writerows(
        row if bytes not in map(type, row) else [_cell(v) for v in row] for row in rows
    )


def _write_json(columns: list[str], rows: Iterable[tuple], out: TextIO) -> None:
    """A JSON list of objects, one per line; non-finite floats as the strings "inf", "-inf",
    "nan" (JSON has no such numbers); every non-ASCII and control character escaped."""
    out.write("[")
    first = True
    for row in rows:
        item = {c: _json_value(v) for c, v in zip(columns, row)}
        out.write(("\n" if first else ",\n") + json.dumps(item, allow_nan=False))
        first = False
    out.write("\n]\n" if not first else "]\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return f"x'{value.hex()}'"
    return value


_WRITERS = {"table": _write_table, "csv": _write_csv, "json": _write_json}
