"""A thread pool of daemon threads for the probes of an endpoint or a domain.

:class:`concurrent.futures.ThreadPoolExecutor` joins its threads when the interpreter
exits, so a probe stuck on a server that drips one byte a second would keep ``tlsaudit``
alive after the endpoint's deadline gave up on it. These threads are daemons: an abandoned
probe never delays the caller nor the exit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonPool:
    """At most *workers* calls at once; :meth:`submit` as ThreadPoolExecutor's."""

    def __init__(self, workers: int, name: str = "tlsaudit-probe") -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers = max(1, workers)
        for _ in range(self._workers):
            threading.Thread(target=self._work, daemon=True, name=name).start()

    def submit(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        self._jobs.put((future, function, args, kwargs))
        return future

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """*function* of every item on the pool; the results in order (or the first error)."""
        futures = [self.submit(function, item) for item in items]
        return [future.result() for future in futures]

    def close(self) -> None:
        """Let the threads end once the queued calls are done (without waiting for them)."""
        for _ in range(self._workers):
            self._jobs.put(None)

    def __enter__(self) -> DaemonPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, function, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args, **kwargs))
            except BaseException as error:
                future.set_exception(error)
