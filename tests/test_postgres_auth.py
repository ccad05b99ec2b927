"""libpq's usual ways of giving a password work for the tracker (PGPASSWORD, a password file),
and a refused login is one line that says what to do and never shows the password."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.pg_server import PASSWORD_ROLE

SECRET = "s3cr;et pw"  # characters a conninfo string or a URL would have to quote


@pytest.fixture
def pw_url(pg_server) -> str:  # type: ignore[no-untyped-def]
    """A URL (no password in it) of an empty database owned by the role that needs a password."""
    name = "pw_" + uuid.uuid4().hex[:12]
    pg_server.admin(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                    f"'{PASSWORD_ROLE}') THEN CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD "
                    f"'{SECRET}'; END IF; END $$")
    pg_server.admin(f'CREATE DATABASE "{name}" OWNER {PASSWORD_ROLE} TEMPLATE template0')
    return pg_server.url(name, user=PASSWORD_ROLE)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(extra)
    return env


def _tracker(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _log_a_run(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = ("import tracker\n"
            f"run = tracker.init('auth', name='pw-run', db={url!r}, strict=True, system=False,"
            " console=False)\n"
            "run.log({'loss': 0.5}, step=1)\n"
            "run.finish()\n")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


def test_pgpassword_logs_and_reads(pw_url: str) -> None:
    env = _env(PGPASSWORD=SECRET)
    done = _log_a_run(pw_url, env)
    assert done.returncode == 0, done.stderr
    out = _tracker("ls", "--db", pw_url, env=env)
    assert out.returncode == 0, out.stderr
    assert "pw-run" in out.stdout and SECRET not in out.stdout + out.stderr


def test_a_password_file_logs_and_reads(pw_url: str, tmp_path: Path) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:" + PASSWORD_ROLE + ":" + SECRET.replace("\\", "\\\\") + "\n")
    passfile.chmod(0o600)
    env = _env(PGPASSFILE=str(passfile))
    assert _log_a_run(pw_url, env).returncode == 0
    out = _tracker("ls", "--db", pw_url, env=env)
    assert out.returncode == 0 and "pw-run" in out.stdout, out.stderr


def test_a_refused_login_is_one_line_without_the_password(pw_url: str) -> None:
    wrong = "wrong-" + SECRET
    for env in (_env(), _env(PGPASSWORD=wrong)):
        out = _tracker("ls", "--db", pw_url, env=env)
        assert out.returncode != 0
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert "password" in lines[0] and "Traceback" not in out.stderr
        assert wrong not in out.stderr and SECRET not in out.stderr
    url_with_password = pw_url.replace(f"{PASSWORD_ROLE}@", f"{PASSWORD_ROLE}:{wrong}@")
    out = _tracker("ls", "--db", url_with_password, env=_env())
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert wrong not in out.stderr and "***" in out.stderr
    done = _log_a_run(pw_url, _env(PGPASSWORD=wrong))  # strict=True: the error, on one line
    assert done.returncode != 0 and wrong not in done.stderr
