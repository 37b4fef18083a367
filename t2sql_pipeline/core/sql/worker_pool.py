"""Worker processes that run picklable tasks with a hard budget: an overrunning task's worker is killed.

The evaluator runs SQL execution and text metrics in them; the kill backs up
SQLite's progress handler (`execution.run_query`) for work it cannot interrupt.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])  # so workers import this same code

KILLED = "worker killed"  # prefix of the reason `on_overrun` gets for an overrun (vs a crash)


class WorkerError(RuntimeError):
    """A task raised inside a worker process; carries the worker's traceback."""


def worker_main(fd: int) -> None:
    """Worker process loop on socket `fd`: run (fn, task) messages until told to stop."""
    logging.disable(logging.WARNING)  # e.g. sqlglot's per-query parse warnings: noise on the user's terminal
    conn = Connection(fd)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            # Told to stop: leave without the interpreter's clean-up (seconds on a busy machine);
            # there is nothing to flush, every connection is read-only.
            os._exit(0)
        fn, task = message
        try:
            reply: tuple[str, Any] = ("ok", fn(task))
        except Exception:  # noqa: BLE001 - re-raised in the parent as WorkerError
            reply = ("error", traceback.format_exc())
        conn.send(reply)


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection


class WorkerPool:
    """Processes that run `fn(task)`; a task overrunning its budget gets its worker killed.

    The kill is the last line of defence behind SQLite's progress handler: a
    query stuck somewhere the handler is not called still cannot outlive its
    budget by more than `grace_s`. Connections stay open in each worker
    (`cached_connection`) for the life of the pool.
    """

    def __init__(self, workers: int, *, grace_s: float = 1.0) -> None:
        if workers < 1:
            raise ValueError(f"a WorkerPool needs at least one worker, got {workers}")
        self._grace_s = grace_s
        self._workers = [self._start() for _ in range(workers)]

    @staticmethod
    def _start() -> _Worker:
        # A fresh interpreter, not multiprocessing's spawn/fork: no fork of a threaded
        # (Dagster, MLflow) parent, and no re-import of the caller's __main__, so a
        # script without an `if __name__ == "__main__"` guard works too.
        parent_end, child_end = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (_PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))}
        code = f"from {__name__} import worker_main; worker_main({child_end.fileno()})"
        process = subprocess.Popen([sys.executable, "-c", code], pass_fds=(child_end.fileno(),), env=env)
        child_end.close()
        return _Worker(process, Connection(parent_end.detach()))

    def _replace(self, worker: _Worker) -> _Worker:
        worker.process.kill()
        worker.process.wait()
        worker.conn.close()
        return self._start()

    def run(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        *,
        budget_s: Callable[[T], float],
        on_overrun: Callable[[T, str], R],
    ) -> Iterator[tuple[int, R]]:
        """Yield (position in `tasks`, result) as tasks finish, in any order.

        A task whose worker passes `budget_s(task) + grace_s` or dies yields
        `on_overrun(task, reason)`; an exception inside `fn` raises WorkerError.
        """
        queue = enumerate(tasks)
        idle = list(self._workers)
        busy: dict[Connection, tuple[_Worker, int, T, float]] = {}
        try:
            yield from self._serve(fn, queue, idle, busy, budget_s, on_overrun)
        finally:
            # Abandoned mid-run (an error, or the caller stopped): a busy worker's late
            # reply must never reach the next run, so replace every busy worker.
            for worker, *_ in busy.values():
                self._swap(worker, self._replace(worker))

    def _serve(
        self,
        fn: Callable[[T], R],
        queue: Iterator[tuple[int, T]],
        idle: list[_Worker],
        busy: dict[Connection, tuple[_Worker, int, T, float]],
        budget_s: Callable[[T], float],
        on_overrun: Callable[[T, str], R],
    ) -> Iterator[tuple[int, R]]:
        exhausted = False
        while True:
            while idle and not exhausted:
                item = next(queue, None)
                if item is None:
                    exhausted = True
                    break
                worker = idle.pop()
                try:
                    worker.conn.send((fn, item[1]))
                except OSError:  # died while idle: start another and retry once
                    worker = self._swap(worker, self._replace(worker))
                    worker.conn.send((fn, item[1]))
                deadline = time.monotonic() + budget_s(item[1]) + self._grace_s
                busy[worker.conn] = (worker, item[0], item[1], deadline)
            if not busy:
                return
            next_deadline = min(entry[3] for entry in busy.values())
            ready = wait(list(busy), timeout=max(0.0, next_deadline - time.monotonic()))
            for conn in ready:
                worker, position, task, _ = busy.pop(conn)  # type: ignore[call-overload]
                try:
                    status, value = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):
                    idle.append(self._swap(worker, self._replace(worker)))
                    yield position, on_overrun(task, "the worker process died")
                    continue
                idle.append(worker)
                if status == "error":
                    raise WorkerError(f"task {position} failed in a worker:\n{value}")
                yield position, value
            now = time.monotonic()
            for conn, (worker, position, task, deadline) in list(busy.items()):
                if now >= deadline:
                    del busy[conn]
                    idle.append(self._swap(worker, self._replace(worker)))
                    yield position, on_overrun(task, f"{KILLED} after {budget_s(task):g} s + {self._grace_s:g} s grace")

    def _swap(self, old: _Worker, new: _Worker) -> _Worker:
        self._workers[self._workers.index(old)] = new
        return new

    def close(self) -> None:
        """Stop every worker (killing any still busy)."""
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self._workers:
            try:
                worker.process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.conn.close()
        self._workers = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
