"""A throw-away PostgreSQL cluster for tests (Debian ``postgresql``), never the system service.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user
the package creates (``runuser``). It listens on 127.0.0.1 at a free port, with its data
and socket in a temporary directory, trusts local connections, and is stopped by
``pg_ctl stop`` at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from pathlib import Path
from types import TracebackType


def find_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has initdb and pg_ctl."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    def __init__(self, workdir: Path) -> None:
        binaries = find_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL not installed (Debian package postgresql)")
        self.bin = binaries
        self.workdir = workdir
        self.data = workdir / "data"
        self.port = _free_port()
        self.user = "tlsaudit"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def new_database(self, name: str) -> str:
        """Create a database; its URL through the cluster's Unix socket, which processes in
        other network namespaces reach as well (a path in the file system)."""
        self._run(str(self.bin / "createdb"), "-h", str(self.workdir), "-p", str(self.port),
                  "-U", self.user, name)  # fmt: skip
        return f"postgresql://{self.user}@/{name}?host={self.workdir}&port={self.port}"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, check=False, cwd="/"
        )
        if result.returncode != 0:
            log = self.workdir / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {result.stdout}{result.stderr}{tail}")

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                  "-U", self.user, "--no-sync", "-E", "UTF8")  # fmt: skip
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                  str(self.workdir / "log"), "-o", options, "start")  # fmt: skip
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                      "stop")  # fmt: skip

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
