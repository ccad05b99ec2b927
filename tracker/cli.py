"""The ``tracker`` command: list, show and delete runs; open the app; export/import TensorBoard.

Every user error (missing, corrupt, locked or newer store; unknown run) is one line on stderr and
exit status 2, never a traceback. Heavy modules (the app, the exporter) load inside their commands.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

import click

from .errors import TrackerError
from .paths import DB_ENV_VAR

EXIT_USER_ERROR = 2

db_option = click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Store file (default: ${DB_ENV_VAR}, else ./tracker.db).",
)


class _Group(click.Group):
    """A group that turns TrackerError into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            click.echo(f"tracker: {exc}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=_Group, invoke_without_command=True)
@db_option
@click.version_option(package_name="tracker-tui")
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """Terminal-first experiment tracker. With no command: open the app on the store.

    Example: tracker --db runs.db
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(ui, db=db)


@main.command()
@db_option
def ui(db: str | None) -> None:
    """Open the terminal app on the store.

    Example: tracker ui --db runs.db
    """
    from .query import open_store

    open_store(db).close()  # one-line errors for a bad file before the screen takes over
    try:
        from .tui.app import run_app
    except ImportError:  # the app is not part of this build: list the runs instead
        _print_runs(db, None, as_json=False)
        return
    run_app(db)


@main.command("ls")
@click.option("--project", "-p", default=None, help="Only runs of this project.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one list of runs).")
@db_option
def ls_command(project: str | None, as_json: bool, db: str | None) -> None:
    """List runs, newest first, with their last metric values.

    Example: tracker ls --project mnist --json
    """
    _print_runs(db, project, as_json)


def _print_runs(db: str | None, project: str | None, as_json: bool) -> None:
    from .query import common_keys, open_store

    with open_store(db) as store:
        runs = store.runs(project)
    if as_json:
        click.echo(json.dumps([_run_json(r) for r in runs], indent=1, default=_json_default))
        return
    if not runs:
        click.echo("no runs yet")
        return
    from rich.table import Table
    from rich.text import Text

    keys = common_keys(runs)[:4]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("id", "project", "name", "status", "started", "time", "step", *keys):
        table.add_column(
            col,
            no_wrap=True,
            justify="right" if col in keys else "left",
            min_width=8 if col == "id" else None,
            overflow="ellipsis",
        )
    for r in runs:
        table.add_row(
            r.id,
            Text(r.project),
            Text(r.name),
            Text(r.status, style=_STATUS_STYLE.get(r.status, "")),
            _when(r.started),
            _duration(r.duration),
            "" if r.last_step is None else str(r.last_step),
            *(_num(r.last.get(k)) for k in keys),
        )
    _console().print(table)


@main.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def show(run: str, as_json: bool, db: str | None) -> None:
    """Show one run (id, id prefix or name): config, summary and every key.

    Example: tracker show 3kf9 --json
    """
    from .query import open_store

    with open_store(db) as store:
        info = store.run(run)
        keys = store.keys(info.id)
    if as_json:
        data = _run_json(info)
        data["keys"] = [
            {"key": k.key, "kind": k.kind, "count": k.count, "first_step": k.first_step,
             "last_step": k.last_step, "last": k.last_value, "min": k.min, "max": k.max}
            for k in keys
        ]
        click.echo(json.dumps(data, indent=1, default=_json_default))
        return
    from rich.table import Table
    from rich.text import Text

    console = _console()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for label, value in (
        ("id", info.id), ("project", info.project), ("name", info.name),
        ("status", info.status), ("group", info.group or ""), ("tags", ", ".join(info.tags)),
        ("started", _when(info.started)), ("duration", _duration(info.duration)),
        ("host", f"{info.host or ''} pid {info.pid or ''}"),
        ("rank", "" if info.rank is None else f"{info.rank} of {info.world_size}"),
        ("notes", info.notes or ""),
    ):
        if value:
            head.add_row(label, Text(str(value)))
    console.print(head)
    if info.config:
        console.print(Text("\nconfig", style="bold"))
        console.print(Text(json.dumps(info.config, indent=2)))
    if info.summary:
        console.print(Text("\nsummary", style="bold"))
        console.print(Text(json.dumps(info.summary, indent=2, default=_json_default)))
    if keys:
        table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
        for col in ("key", "kind", "points", "steps", "last", "min", "max"):
            table.add_column(col, no_wrap=True)
        for k in keys:
            steps = "" if k.first_step is None else f"{k.first_step}..{k.last_step}"
            table.add_row(Text(k.key), k.kind, str(k.count), steps, _num(k.last_value),
                          _num(k.min), _num(k.max))
        console.print()
        console.print(table)


@main.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@db_option
def rm(runs: tuple[str, ...], yes: bool, db: str | None) -> None:
    """Delete runs (ids, id prefixes or names) and everything they logged.

    Example: tracker rm 3kf9 swift-otter-2 --yes
    """
    from .query import open_store

    with open_store(db) as store:
        infos = [store.run(ref) for ref in runs]
        listing = ", ".join(f"{i.id} ({i.name})" for i in infos)
        if not yes:
            click.confirm(f"Delete {len(infos)} run(s): {listing}?", abort=True)
        count = store.delete_runs(i.id for i in infos)
    click.echo(f"deleted {count} run(s): {listing}")


# -- formatting ---------------------------------------------------------------------------------
_STATUS_STYLE = {"running": "green", "finished": "", "failed": "red", "crashed": "red",
                 "killed": "yellow"}


def _console() -> Any:
    from rich.console import Console

    # Piped output gets a wide virtual terminal so ids and names are never cut.
    width = None if sys.stdout.isatty() else 240
    return Console(highlight=False, markup=False, emoji=False, soft_wrap=False, width=width)


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _json_default(value: Any) -> Any:
    if isinstance(value, float):
        return None
    return str(value)


def _run_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id, "project": r.project, "name": r.name, "group": r.group, "status": r.status,
        "tags": r.tags, "notes": r.notes, "config": r.config, "summary": r.summary,
        "host": r.host, "pid": r.pid, "rank": r.rank, "world_size": r.world_size,
        "started": r.started, "ended": r.ended, "duration": r.duration, "last_step": r.last_step,
        "last": {k: (v if math.isfinite(v) else str(v)) for k, v in r.last.items()},
    }


def _register_optional_commands() -> None:
    """Add `export` / `import` when the TensorBoard bridge is present (its module is light)."""
    try:
        from .tensorboard.commands import export_command, import_command
    except ImportError:
        return
    main.add_command(export_command, "export")
    main.add_command(import_command, "import")


_register_optional_commands()

if __name__ == "__main__":
    main()
