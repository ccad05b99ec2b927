"""A throwaway PostgreSQL server for the tests: initdb into a temporary directory, pg_ctl start on
a unix socket (no TCP port to collide with other test runs), databases made from a template, and a
stop that runs even when the tests fail.

PostgreSQL refuses to run as root; as root the server runs as the ``postgres`` OS user (Debian's
package creates it) in a directory that user owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "tracker_test"
PASSWORD_ROLE = "tracker_pw"  # the one role that logs in with a password


def find_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian layout), or PG_BINDIR."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(
        "no PostgreSQL server binaries (initdb) found: install them (apt-get install postgresql)"
        " or set PG_BINDIR"
    )


@dataclass
class PgServer:
    """One running server: ``url(dbname)`` gives a location the tracker accepts."""

    bindir: Path
    root: Path
    run_as: str | None = None
    _started: bool = field(default=False, init=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *args]
        return list(args)

    def start(self) -> None:
        """initdb (trust auth for local sockets only) and start; fast settings for tests."""
        self.sockdir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(self.root, self.run_as)
            shutil.chown(self.sockdir, self.run_as)
        subprocess.run(
            self._cmd(
                str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", SUPERUSER,
                "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
            ),
            check=True, capture_output=True,
        )
        # One role must give a password (tests of PGPASSWORD and ~/.pgpass); the first matching
        # line wins, so it goes before initdb's trust lines.
        hba = self.datadir / "pg_hba.conf"
        hba.write_text(f"local all {PASSWORD_ROLE} scram-sha-256\n" + hba.read_text())
        self._pg_ctl_start()
        self._started = True

    def stop(self, mode: str = "fast") -> None:
        if not self._started:
            return
        subprocess.run(
            self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"),
            capture_output=True,
        )
        self._started = False

    def restart(self) -> None:
        """Start again after ``stop`` (same data, same socket)."""
        self._pg_ctl_start()
        self._started = True

    def _pg_ctl_start(self) -> None:
        # fsync and synchronous commit off: the tests never survive a machine crash, only a
        # server stop, which flushes everything.
        opts = (
            f"-k {self.sockdir} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
            " -c synchronous_commit=off -c max_connections=200 -c shared_buffers=64MB"
        )
        subprocess.run(
            self._cmd(
                str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l",
                str(self.root / "server.log"), "-o", opts, "-w", "-t", "60", "start",
            ),
            check=True, capture_output=True,
        )

    @property
    def running(self) -> bool:
        return self._started

    def url(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        """A postgresql:// URL over the unix socket (``host=`` as a query parameter)."""
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{auth}@/{dbname}?host={quote(str(self.sockdir), safe='')}"

    def admin(self, sql: str, dbname: str = "postgres") -> None:
        """Run statements as the superuser (autocommit: CREATE DATABASE cannot run in a transaction)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)


def start_server() -> PgServer:
    """Start a server in a fresh temporary directory (owned by ``postgres`` when we are root)."""
    bindir = find_bindir()
    run_as = None
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            import pwd

            pwd.getpwnam(run_as)
        except KeyError as exc:
            raise RuntimeError("running as root needs an OS user 'postgres' to run the server") from exc
    root = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
    os.chmod(root, 0o755)
    server = PgServer(bindir=bindir, root=root, run_as=run_as)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = root / "server.log"
        detail = (exc.stderr or b"").decode(errors="replace")
        if log.exists():
            detail += log.read_text(errors="replace")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start the test PostgreSQL server: {detail.strip()}") from exc
    return server


def remove(server: PgServer) -> None:
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)
