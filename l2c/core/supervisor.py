"""A small process supervisor for `l2c serve`: runs the web server and the worker side by side.

Each child runs in its own process group, so a Ctrl-C in the terminal reaches only the supervisor,
which then stops every child in order (SIGTERM: gunicorn and Celery both shut down gracefully),
waits, and kills what is still running after the grace period. When one child dies on its own,
the others are stopped too and the supervisor reports the failure with a non-zero exit code:
a half-running L2C (web without worker, or the reverse) is worse than a clear stop.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Child:
    """One supervised command."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Start children, watch them, stop them all on a signal or when one of them exits."""

    def __init__(self, children: Sequence[Child], *, grace_seconds: float = 15.0, poll_seconds: float = 0.2,
                 log: Callable[[str], None] | None = None):
        self.children = list(children)
        self.grace_seconds = grace_seconds
        self.poll_seconds = poll_seconds
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self._stop_signal: int | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        for child in self.children:
            env = {**os.environ, **(child.env or {})}
            # process_group=0: the child leads a new group, out of reach of the terminal's Ctrl-C.
            child.process = subprocess.Popen(list(child.argv), env=env, process_group=0)
            self.log(f"started {child.name} (pid {child.pid})")

    def request_stop(self, signum: int, _frame=None) -> None:
        """Signal handler: remember the request; the watch loop does the stopping."""
        if self._stop_signal is None:
            self._stop_signal = signum

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)

    def watch(self, *, on_tick: Callable[[], None] | None = None) -> int:
        """Block until a stop is requested or a child exits; stop all; return the exit code."""
        failed: Child | None = None
        while self._stop_signal is None:
            for child in self.children:
                if not child.running():
                    failed = child
                    break
            if failed is not None:
                break
            if on_tick is not None:
                on_tick()
            time.sleep(self.poll_seconds)
        if failed is not None:
            code = failed.process.returncode if failed.process else None
            self.log(f"{failed.name} exited with code {code}; stopping the others")
        else:
            self.log(f"received {signal.Signals(self._stop_signal).name}; stopping")
        self.stop_all()
        if failed is not None:
            code = failed.process.returncode if failed.process else None
            # A child that exits by itself is a failure even with code 0: L2C is no longer whole.
            return code if code is not None and code > 0 else 1
        return 0

    def stop_all(self) -> None:
        """SIGTERM every running child (last started first), wait, then SIGKILL their groups."""
        for child in reversed(self.children):
            if child.running():
                self._signal(child, signal.SIGTERM, group=False)
        deadline = time.monotonic() + self.grace_seconds
        for child in reversed(self.children):
            if child.process is None:
                continue
            remaining = max(0.0, deadline - time.monotonic())
            try:
                child.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                self.log(f"{child.name} did not stop within {self.grace_seconds:g}s; killing it")
                self._signal(child, signal.SIGKILL, group=True)
                child.process.wait()
            # Whatever the child left behind in its group (pool processes) goes with it.
            self._signal(child, signal.SIGKILL, group=True)

    @staticmethod
    def _signal(child: Child, signum: int, *, group: bool) -> None:
        if child.process is None:
            return
        try:
            if group:
                os.killpg(child.process.pid, signum)
            else:
                child.process.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass  # already gone
