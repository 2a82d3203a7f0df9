"""A foreground daemon run as a child process for tests: started once, stopped by its pid.

:class:`Daemon` starts a command with its output in ``<workdir>/<name>.out``, waits
until :meth:`Daemon.ready` (the subclass's probe) succeeds, and raises
:class:`DaemonError` with the daemon's output and log as soon as the process exits early
or the probe keeps failing.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


class DaemonError(RuntimeError):
    """The daemon exited, or never became ready."""


def find_binary(name: str, package: str) -> str:
    """Path of a program on PATH or in the sbin folders; DaemonError names the package."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise DaemonError(f"{name} not found (Debian package {package})")
    return found


class Daemon:
    """One foreground process with an output file and an optional log file."""

    def __init__(self, name: str, command: Sequence[str], workdir: Path, log: Path | None) -> None:
        self.name = name
        self.command = list(command)
        self.workdir = workdir
        self.log = log
        self.output = workdir / f"{name}.out"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        """Launch the process (readiness is :meth:`wait_ready`)."""
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir
            )

    def ready(self) -> bool:
        """Whether the daemon serves what it should (the readiness probe)."""
        raise NotImplementedError

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Poll :meth:`ready` until it returns True; fail fast if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                raise DaemonError(f"{self.name} exited during start-up\n{self.diagnostics()}")
            if self.ready():
                return
            if time.monotonic() > deadline:
                message = f"{self.name} not ready after {timeout:g} s"
                raise DaemonError(f"{message}\n{self.diagnostics()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate the process by its pid (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def diagnostics(self) -> str:
        """Command line, exit status, output and log, for an error message."""
        status = self.process.poll() if self.process else None
        parts = [f"command: {' '.join(self.command)}", f"exit status: {status}"]
        parts += [
            f"--- {path} ---\n{path.read_text(errors='replace')[-4000:]}"
            for path in (self.output, self.log)
            if path is not None and path.exists()
        ]
        return "\n".join(parts)
