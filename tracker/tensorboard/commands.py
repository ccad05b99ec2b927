"""``tracker export tensorboard`` and ``tracker import tensorboard`` (click only at import time)."""

from __future__ import annotations

import click

from ..cli_options import db_option as _db_option
from ..errors import TrackerError
from ..literal import shown as _shown
from ..refs import check_run_ref


def _run_refs(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """--runs values split at commas; a blank one is an error (it would match every run)."""
    refs = tuple(r.strip() for arg in value for r in arg.split(","))
    for ref in refs:
        try:
            check_run_ref(ref, "a --runs value")
        except ValueError as exc:
            raise TrackerError(str(exc)) from None
    return refs


@click.group("export")
def export_command() -> None:
    """Export runs to other tools."""


@export_command.command("tensorboard")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--project", "-p", default=None, help="Only runs of this project.")
@click.option("--runs", "--run", "runs", multiple=True,
              callback=_run_refs, help="Run id, id prefix or name (repeat, or separate with commas).")
@click.option("--since", default=None, help="Only runs started since this date (2026-01-31).")
@click.option("--float64", is_flag=True,
              help="Exact float64 scalars (read by --load_fast=false, not TensorBoard's default loader).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line.")
@_db_option
def export_tensorboard_command(
    out_dir: str, project: str | None, runs: tuple[str, ...], since: str | None, float64: bool,
    quiet: bool, db: str | None,
) -> None:
    """Write runs as TensorBoard event files; run it again to add only what is new.

    Example: tracker export tensorboard tb/ --project mnist && tensorboard --logdir tb/
    """
    from .export import export_tensorboard

    refs = [r for arg in runs for r in arg.split(",") if r.strip()] if runs else None
    summary = export_tensorboard(out_dir, refs, db=db, project=project, since=since, quiet=quiet,
                                 float64=float64)
    for problem in summary.problems:
        click.echo(f"warning: {_shown(problem)}", err=True)
    if not summary.selected:
        if not quiet:
            click.echo(f"no runs started since {_shown(since)}; nothing exported")
    elif not quiet:
        click.echo(
            f"exported {summary.runs} run(s): {summary.scalars} scalars, {summary.histograms}"
            f" histograms, {summary.texts} texts, {summary.images} images, {summary.graphs} graphs,"
            f" {summary.profiles} profiles, {summary.console_lines} console lines ->"
            f" {_shown(out_dir)}\nview with: tensorboard --logdir {_shown(out_dir)}"
        )


@click.group("import")
def import_command() -> None:
    """Import runs from other tools."""


@import_command.command("tensorboard")
@click.argument("logdir", type=click.Path(file_okay=False))
@click.option("--project", "-p", default=None, help="Project of the imported runs (default: the folder name).")
@click.option("--quiet", "-q", is_flag=True, help="Print problems only.")
@_db_option
def import_tensorboard_command(logdir: str, project: str | None, quiet: bool, db: str | None) -> None:
    """Read a TensorBoard logdir into the store; importing it again adds only new events.

    Example: tracker import tensorboard runs/ --project old-experiments
    """
    from .importer import import_tensorboard

    summary = import_tensorboard(logdir, db=db, project=project)
    for problem in summary.problems[:20]:
        click.echo(f"warning: {_shown(problem.path)} at byte {problem.offset}: {_shown(problem.reason)}",
                   err=True)
    if len(summary.problems) > 20:
        click.echo(f"warning: {len(summary.problems) - 20} more damaged records skipped", err=True)
    if not quiet:
        skipped = ", ".join(f"{n} {_shown(k)}" for k, n in sorted(summary.skipped.items()))
        click.echo(
            f"imported {summary.runs} run(s): {summary.scalars} scalars, {summary.histograms}"
            f" histograms, {summary.texts} texts, {summary.images} images, {summary.graphs} graphs"
            + (f" (not supported, left out: {skipped})" if skipped else "")
        )
