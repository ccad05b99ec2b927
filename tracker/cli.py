"""The ``tracker`` command: list, show and delete runs; open the app; migrate a store;
export/import TensorBoard; read-only SQL; a run's console output; copy runs between
stores (sync).

Every user error (missing, corrupt, foreign, locked, older or newer store; unknown run) is one line
on stderr and exit status 2, never a traceback. Text that came from runs is printed literally (no
terminal escapes get through). Reading commands never write to the store. Heavy modules (the app,
the exporter) load inside their commands.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click

from .cli_options import db_option
from .errors import TrackerError
from .format import duration, number, status_style, status_text, timestamp
from .literal import shown

EXIT_USER_ERROR = 2


class _Group(click.Group):
    """A group that turns TrackerError into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            click.echo(f"tracker: {shown(exc)}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=_Group, invoke_without_command=True)
@db_option
@click.version_option(package_name="tracker-tui")
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """Terminal-first experiment tracker. With no command: open the app on the store.

    --db works before or after a command: tracker --db runs.db ls is tracker ls --db runs.db.

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
    from .paths import resolve_db_path
    from .read import open_store

    if resolve_db_path(db).exists():  # a store that does not exist yet opens empty, and waits
        open_store(db).close()  # one-line errors for a bad file before the screen takes over
    from .tui.app import run_app

    run_app(db)


@main.command("ls")
@click.option("--project", "-p", default=None, help="Only runs of this project.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one list of runs).")
@db_option
def ls_command(project: str | None, as_json: bool, db: str | None) -> None:
    """List runs, newest first, with the last logged value of their main metrics
    (headed metric.KEY; config values would be config.KEY, as in the app's filter).

    Example: tracker ls --project mnist --json
    """
    _print_runs(db, project, as_json)


def _print_runs(db: str | None, project: str | None, as_json: bool) -> None:
    from .read import common_keys, is_system_key, open_store

    with open_store(db) as store:
        runs = store.runs(project)
        projects = store.projects() if project is not None and not runs else []
    if project is not None and not runs:
        raise TrackerError(
            f"project {project!r} has no runs; "
            + (f"projects: {', '.join(projects)}" if projects else "the store has no runs yet")
        )
    if as_json:
        click.echo(_json_text([_run_json(r) for r in runs]))
        return
    if not runs:
        click.echo("no runs yet")
        return
    from rich.table import Table
    from rich.text import Text

    # System metrics (sys/...) are there for every run and would crowd out the user's own.
    keys = [key for key in common_keys(runs) if not is_system_key(key)][:4]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("id", "project", "name", "status", "started", "time", "step"):
        table.add_column(col, no_wrap=True, min_width=8 if col == "id" else None,
                         overflow="ellipsis")
    for key in keys:
        table.add_column(Text(metric_label(key)), no_wrap=True, justify="right",
                         overflow="ellipsis")
    for r in runs:
        table.add_row(
            Text(shown(r.id)),
            Text(shown(r.project)),
            Text(shown(r.name)),
            Text(status_text(r.status, r.damaged), style=status_style(r.status, r.damaged)),
            timestamp(r.started),
            duration(r.duration),
            "" if r.last_step is None else str(r.last_step),
            *(number(r.last.get(k)) for k in keys),
        )
    _console().print(table)
    for r in runs:
        if r.damaged:
            click.echo(f"tracker: run {shown(r.id)} is damaged: {shown(r.damaged)}", err=True)


def metric_label(key: str) -> str:
    """A metric column's header: ``metric.KEY`` (the last logged value), never to be taken for
    the config value ``config.KEY`` (the app and its filter language use the same names)."""
    return f"metric.{shown(key)}"


@main.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def show(run: str, as_json: bool, db: str | None) -> None:
    """Show one run (id, id prefix or name): config, summary and every key.

    Example: tracker show 3kf9 --json
    """
    from .read import open_store

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
        click.echo(_json_text(data))
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
        ("started", timestamp(info.started)), ("duration", duration(info.duration)),
        ("host", f"{info.host or ''} pid {info.pid or ''}"),
        ("rank", "" if info.rank is None else f"{info.rank} of {info.world_size}"),
        ("notes", info.notes or ""), ("damaged", info.damaged or ""),
    ):
        if value:
            head.add_row(label, Text(shown(value, multiline=label == "notes"),
                                     style="red" if label == "damaged" else ""))
    console.print(head)
    if info.config:  # JSON escapes every control character
        console.print(Text("\nconfig", style="bold"))
        console.print(Text(json.dumps(info.config, indent=2, default=str)))
    if info.summary:
        console.print(Text("\nsummary", style="bold"))
        console.print(Text(json.dumps(info.summary, indent=2, default=str)))
    if keys:
        table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
        for col in ("key", "kind", "points", "steps", "last", "min", "max"):
            table.add_column(col, no_wrap=True)
        for k in keys:
            steps = "" if k.first_step is None else f"{k.first_step}..{k.last_step}"
            table.add_row(Text(shown(k.key)), Text(shown(k.kind)), str(k.count), steps,
                          number(k.last_value), number(k.min), number(k.max))
        console.print()
        console.print(table)


@main.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Delete runs that are still logging too.")
@db_option
def rm(runs: tuple[str, ...], yes: bool, force: bool, db: str | None) -> None:
    """Delete runs (ids, id prefixes or names) and everything they logged.

    A run that is still logging is kept unless --force is given.

    Example: tracker rm 3kf9 swift-otter-2 --yes
    """
    from .read import open_store

    with open_store(db) as store:
        infos = list({i.id: i for i in (store.run(ref) for ref in runs)}.values())
        live = [i for i in infos if i.status == "running"]  # not shown as crashed: it is alive
        if live and not force:
            first = live[0]
            raise TrackerError(
                f"run {first.id} ({first.name}) is still logging (pid {first.pid} on"
                f" {first.host}); stop it first, or pass --force to delete it anyway"
                + (f" ({len(live)} runs are live)" if len(live) > 1 else "")
            )
        listing = shown(", ".join(f"{i.id} ({i.name})" for i in infos))
        if not yes:
            click.confirm(f"Delete {len(infos)} run(s): {listing}?", abort=True)
        count = store.delete_runs(i.id for i in infos)
    click.echo(f"deleted {count} run(s): {listing}")


@main.command()
@db_option
def migrate(db: str | None) -> None:
    """Upgrade a store written by an older tracker to this tracker's schema (reading commands
    and the app never change a store; they ask for this).

    Example: tracker migrate --db runs.db
    """
    from .paths import resolve_db_path
    from .store.sqlite import upgrade

    path = resolve_db_path(db)
    before, after = upgrade(path)
    if before == after:
        click.echo(f"{shown(path)} is up to date (schema version {after})")
    else:
        click.echo(f"upgraded {shown(path)} from schema version {before} to {after}")


# -- output ---------------------------------------------------------------------------------------
def _console() -> Any:
    from rich.console import Console

    # Piped output gets a wide virtual terminal so ids and names are never cut.
    width = None if sys.stdout.isatty() else 240
    return Console(highlight=False, markup=False, emoji=False, soft_wrap=False, width=width)


def _json_ready(value: Any) -> Any:
    """``value`` with every non-finite float as the string "inf", "-inf" or "nan" (JSON has no
    such numbers), so that the output is valid JSON for any reader."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, (str, int)):
        return value
    return str(value)


def _json_text(value: Any) -> str:
    """Strict JSON: non-ASCII and control characters escaped, no NaN/Infinity."""
    return json.dumps(_json_ready(value), indent=1, allow_nan=False)


@main.command("sync")
@click.argument("src")
@click.argument("dest")
@click.option("--project", "-p", default=None, help="Only runs of this project.")
@click.option("--runs", "run_ids", multiple=True, metavar="ID",
              help="Only these runs (full ids; repeat it, or separate ids with commas).")
@click.option("--since", default=None, metavar="DATE",
              help="Only runs active since DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time).")
def sync_command(src: str, dest: str, project: str | None, run_ids: tuple[str, ...],
                 since: str | None) -> None:
    """Copy runs from the store SRC to the store DEST (files or postgresql:// URLs, either way):
    only what DEST lacks, run ids kept; safe to interrupt and run again. SRC is only read.

    Example: tracker sync ./tracker.db postgresql://alice@db.internal/experiments
    """
    from .sync import TerminalProgress, parse_since, sync
    from .urls import display

    ids = [i.strip() for part in run_ids for i in part.split(",") if i.strip()]
    after = None if since is None else parse_since(since)
    progress = TerminalProgress()
    try:
        result = sync(src, dest, project=project, run_ids=ids, since=after, progress=progress)
    finally:
        progress.done()
    click.echo(f"synced {result} into {shown(display(dest))}")


def _run_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id, "project": r.project, "name": r.name, "group": r.group, "status": r.status,
        "tags": r.tags, "notes": r.notes, "config": r.config, "summary": r.summary,
        "host": r.host, "pid": r.pid, "rank": r.rank, "world_size": r.world_size,
        "started": r.started, "ended": r.ended, "duration": r.duration, "last_step": r.last_step,
        "last": r.last, "damaged": r.damaged,
    }


def _register_tensorboard_commands() -> None:
    """Add `export` / `import` (their module is light: click only; the work loads on use)."""
    from .tensorboard.commands import export_command, import_command

    main.add_command(export_command, "export")
    main.add_command(import_command, "import")


_register_tensorboard_commands()


def _register_sql_command() -> None:
    """Add `sql` (its module is light: click only; the store loads on use)."""
    from .sql_command import sql_command

    main.add_command(sql_command, "sql")


_register_sql_command()


def _register_logs_command() -> None:
    """Add `logs` (its module is light: click only; the store loads on use)."""
    from .logs_command import logs_command

    main.add_command(logs_command, "logs")


_register_logs_command()

if __name__ == "__main__":
    main()
