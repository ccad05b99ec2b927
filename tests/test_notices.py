"""tracker.notices: warnings on the "tracker" logger, a bare ``tracker: ...`` line on stderr when the
program configures no logging, the program's logging setup otherwise; once per key where asked."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tracker.notices import Once, StderrHandler, warn_once


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_without_logging_config_a_warning_is_one_bare_line_on_stderr() -> None:
    out = _run("from tracker.notices import warn\nwarn('the store is read-only')")
    assert (out.stdout, out.stderr) == ("", "tracker: the store is read-only\n")


def test_the_programs_logging_config_takes_over() -> None:
    routed = _run(
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, format='%(levelname)s %(name)s | %(message)s')\n"
        "from tracker.notices import warn\nwarn('x')"
    )
    assert (routed.stdout, routed.stderr) == ("WARNING tracker | tracker: x\n", "")
    silenced = _run(
        "import logging\nlogging.getLogger('tracker').setLevel(logging.ERROR)\n"
        "from tracker.notices import warn\nwarn('x')"
    )
    assert (silenced.stdout, silenced.stderr) == ("", "")


def test_the_run_sides_warnings_take_the_same_channel(tmp_path: Path) -> None:
    """A run's own warnings (here: a flush hook that fails) follow the program's logging setup."""
    code = (
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, format='%(levelname)s %(name)s | %(message)s')\n"
        f"import tracker\nrun = tracker.init('p', db={str(tmp_path / 'x.db')!r}, system=False)\n"
        "def hook():\n    raise RuntimeError('hook bug')\n"
        "run.add_flush_hook(hook)\nrun.finish()"
    )
    out = _run(code)
    assert out.stdout == "WARNING tracker | tracker: a flush hook failed: RuntimeError: hook bug\n"
    assert "hook bug" not in out.stderr


def test_the_stderr_handler_writes_where_stderr_points_when_it_emits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    handler = StderrHandler()  # made before stderr moves, as a handler made at import is
    record = logging.LogRecord("tracker", logging.WARNING, __file__, 1, "tracker: x", None, None)
    for _ in range(2):
        now = io.StringIO()
        monkeypatch.setattr(sys, "stderr", now)
        handler.handle(record)
        assert now.getvalue() == "tracker: x\n"


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "tracker"]


def test_warn_once_says_a_key_once_per_process(caplog: pytest.LogCaptureFixture) -> None:
    key = f"{__name__}.once-per-process"
    assert warn_once(key, "first") is True
    assert warn_once(key, "second") is False
    assert warn_once(f"{key}.other", "third") is True
    assert _said(caplog) == [(logging.WARNING, "tracker: first"), (logging.WARNING, "tracker: third")]


def test_each_owner_says_a_key_once(caplog: pytest.LogCaptureFixture) -> None:
    callback, logger = Once(), Once()
    assert callback.warn("profile", "callback cannot profile") is True
    assert callback.warn("profile", "callback cannot profile, again") is False
    assert logger.warn("profile", "logger cannot profile") is True
    assert [m for _, m in _said(caplog)] == [
        "tracker: callback cannot profile", "tracker: logger cannot profile"]
