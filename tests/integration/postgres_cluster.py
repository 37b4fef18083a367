"""A throwaway PostgreSQL cluster on 127.0.0.1 for integration tests, run as a non-root user.

`initdb` refuses root, so as root the cluster belongs to the `postgres` system user
(Debian's package creates it); otherwise to the current user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port

USER, PASSWORD = "t2sql", "t2sql-test-password"


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str
    password: str

    def url(self, db_name: str) -> str:
        """A SQLAlchemy URL for MLflow (psycopg2: SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3)."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{db_name}"

    def create_database(self, db_name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password, dbname="postgres")
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{db_name}"')
        finally:
            conn.close()


def find_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(candidates[-1]).parent if candidates else None


def _run_as(owner: str | None, args: list[str]) -> None:
    command = ["runuser", "-u", owner, "--", *args] if owner else args
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


@contextmanager
def throwaway_cluster(bin_dir: Path) -> Iterator[Cluster]:
    """initdb + pg_ctl start on a free port with password auth; stopped (immediate) and deleted on exit."""
    owner = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise RuntimeError("running as root and no `postgres` user exists to own the cluster (initdb refuses root)") from exc
        owner = "postgres"
    # Directly under /tmp: pytest's tmp dirs sit below root-only folders the owner could not enter.
    root = Path(tempfile.mkdtemp(prefix="t2sql-pg-"))
    data, sockets, pwfile = root / "data", root / "sockets", root / "pwfile"
    sockets.mkdir()
    pwfile.write_text(PASSWORD + "\n")
    if owner:
        entry = pwd.getpwnam(owner)
        for path in (root, sockets, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = free_port()
    started = False
    try:
        _run_as(
            owner, [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions"]
        )
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run_as(owner, [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start"])
        started = True
        yield Cluster("127.0.0.1", port, USER, PASSWORD)
    finally:
        if started:
            _run_as(owner, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)
