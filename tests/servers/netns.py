"""Network namespaces for zone tests: each holds only its own loopback, its own test servers
and the workers of its zone (``ip netns``, as root).

A process in such a namespace reaches 127.0.0.0/8 of its namespace and nothing else: not
the servers of another zone, not the host's. The workers still share one PostgreSQL
cluster through its Unix socket, a path in the file system that every namespace sees.
Namespaces are created by :class:`Namespace` and deleted when it exits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from servers.nginx import NginxError, NginxServer, Scenario

_PROBE = """
import socket, sys
for spec in sys.argv[1:]:
    host, port = spec.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
    except OSError:
        print(spec)
"""


def unavailable() -> str | None:
    """Why namespaces cannot be made here (not root, no ``ip``, no privilege), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "the ip command is missing: apt-get install iproute2 (see .ci/run)"
    probe = f"ta13-probe-{os.getpid()}"
    added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if added.returncode != 0:
        return f"cannot create a network namespace here: {added.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False, capture_output=True)
    return None


class Namespace:
    """``ip netns add NAME`` with its loopback up; ``ip netns del NAME`` on exit."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.prefix = ["ip", "netns", "exec", name]
        """Run a command inside the namespace."""

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        try:
            self.run("ip", "link", "set", "lo", "up")
        except BaseException:
            self.delete()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.delete()

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)

    def run(self, *command: str) -> str:
        """Run a command in the namespace; its output."""
        done = subprocess.run([*self.prefix, *command], check=True, capture_output=True, text=True)
        return done.stdout

    def refused(self, addresses: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
        """The addresses that refuse a TCP connection from inside the namespace."""
        specs = [f"{host}:{port}" for host, port in addresses]
        out = self.run(sys.executable, "-c", _PROBE, *specs).split()
        return [(spec.rsplit(":", 1)[0], int(spec.rsplit(":", 1)[1])) for spec in out]


class NamespacedNginx(NginxServer):
    """The test harness's nginx, run inside a namespace (readiness probed from inside)."""

    def __init__(self, namespace: Namespace, scenarios: Sequence[Scenario], workdir: Path) -> None:
        super().__init__(scenarios, workdir)
        self.namespace = namespace

    def _cmd(self, *extra: str) -> list[str]:
        return [*self.namespace.prefix, *super()._cmd(*extra)]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while refused := self.namespace.refused([(s.host, s.port) for s in self.scenarios]):
            if self._proc is None or self._proc.poll() is not None:
                raise NginxError(f"nginx exited during startup\n{self.logs()}")
            if time.monotonic() > deadline:
                raise NginxError(f"nginx did not open {refused} in {self.namespace.name}")
            time.sleep(0.1)
