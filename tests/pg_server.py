"""A throw-away PostgreSQL server for tests: initdb + pg_ctl into a temporary folder, a free port.

Debian's `postgresql` package puts initdb and pg_ctl under /usr/lib/postgresql/<version>/bin.
PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (runuser).
`start_server()` returns None with the reason when it cannot be started here.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_USER = "postgres"
DB_USER = "rai"


@dataclass
class PgServer:
    url: str
    folder: Path
    pg_ctl: str
    prefix: list[str]

    def stop(self) -> None:
        subprocess.run(self.prefix + [self.pg_ctl, "-D", str(self.folder / "data"), "stop", "-m", "fast", "-w"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return found[0] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[PgServer | None, str]:
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        return None, "PostgreSQL is not installed (Debian package postgresql: initdb, pg_ctl)"
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="rai-audit-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(PG_USER)
        except KeyError:
            return None, "running as root and there is no 'postgres' user to run the server as"
        runuser = shutil.which("runuser")
        if runuser is None:
            return None, "running as root and runuser is missing"
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = [runuser, "-u", PG_USER, "--"]
    data, port = folder / "data", _free_port()
    steps = [[initdb, "-D", str(data), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
             [pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60", "start",
              "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"]]
    for step in steps:
        done = subprocess.run(prefix + step, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            return None, f"{Path(step[0]).name} failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return PgServer(f"postgresql+psycopg://{DB_USER}@127.0.0.1:{port}/postgres", folder, pg_ctl, prefix), ""
