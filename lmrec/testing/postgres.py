"""A throw-away PostgreSQL server for tests and benchmarks: `initdb` into a temporary directory, `pg_ctl start` on a
free local port, trust authentication, removed on exit. The server binaries come from the system (Debian's
`postgresql` package puts them in /usr/lib/postgresql/VERSION/bin); `.ci/run` installs it.

    with TemporaryPostgres() as url:        # postgresql://lmrec@127.0.0.1:PORT/postgres
        log = PostgresEventLog(url)

PostgreSQL refuses to run as root; as root the server runs as the `postgres` system user the package creates.
`unavailable()` says why no server can start here (None when one can), for a test's skip reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "lmrec"


def server_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return versions[-1].parent if versions else None


def unavailable() -> str | None:
    """Why a temporary server cannot start on this machine (None: it can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'lmrec[postgres]')"
    if server_binaries() is None:
        return "no PostgreSQL server binaries (initdb) on this machine (apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL will not start as root"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' system user to run the server as"
    return None


class TemporaryPostgres:
    """A private PostgreSQL server for the life of the `with` block; `url` is its connection URL."""

    def __init__(self) -> None:
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        self.bin = server_binaries()
        self.home = Path(tempfile.mkdtemp(prefix="lmrec-pg-"))
        self.data = self.home / "data"
        self.port = _free_port()
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, *command: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres")
            self.home.chmod(0o700)
        run = dict(check=True, capture_output=True, text=True, timeout=120)
        subprocess.run(self._as_owner(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
                                      "--no-sync", "-E", "UTF8", "--locale=C"), **run)
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=on"
        subprocess.run(self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                                      "-l", str(self.home / "server.log"), "-w", "-t", "60", "start"), **run)
        return self.url

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                                          "stop"), capture_output=True, timeout=60)
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
