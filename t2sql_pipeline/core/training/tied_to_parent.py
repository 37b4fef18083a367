"""Processes that die with their launcher, so a launcher killed outright (-9, out of memory) leaves no training behind.

`python -m t2sql_pipeline.core.training.tied_to_parent LAUNCHER_PID COMMAND...` runs COMMAND in its own
place, tied to LAUNCHER_PID. It is how torchrun, a third-party entry point that cannot tie itself, is
started: Dagster's Pipes client starts commands without a hook of ours, and a torchrun that outlived a
killed step would keep its workers training. Kept free of heavy imports: it runs before every torchrun.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h
MODULE = "t2sql_pipeline.core.training.tied_to_parent"


def die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its parent dies. A no-op elsewhere. Also a `preexec_fn`."""
    # An ignored SIGTERM survives exec: a launcher that ignores it (some servers and test runners do) would
    # otherwise pass that on, and the death signal would be ignored too.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def tied_command(command: list[str], *, python: str = sys.executable, launcher_pid: int | None = None) -> list[str]:
    """COMMAND as started through this module, tied to `launcher_pid` (default: this process, which starts it)."""
    return [python, "-m", MODULE, str(launcher_pid or os.getpid()), *command]


def main(args: list[str]) -> int:
    if len(args) < 2 or not args[0].isdigit():
        print(f"usage: python -m {MODULE} LAUNCHER_PID COMMAND...", file=sys.stderr)
        return 2
    die_with_parent()
    # The death signal is only asked for now: a launcher that died before this line has already left us with
    # another parent, and its death will never be signalled. Such a command must not start at all.
    if os.getppid() != int(args[0]):
        print(f"{MODULE}: launcher {args[0]} is gone; not starting {args[1]}", file=sys.stderr)
        return 1
    os.execvp(args[1], args[1:])  # the death-signal request survives exec
    return 1  # unreachable: execvp raises on failure


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
