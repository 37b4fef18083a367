"""A command started through `tied_to_parent` dies with its launcher, and never starts for a launcher already gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from t2sql_pipeline.core.training.tied_to_parent import MODULE, main, tied_command


def _gone(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"  # a zombie nobody reaped yet counts as gone
    except FileNotFoundError:
        return True


def _outlives_a_killed_launcher(tmp_path: Path, start_child: str, child_program: str) -> bool:
    """Start a launcher whose child is `start_child` (code), wait for the child to run `child_program`, kill the
    launcher with -9: does the child live on? Like Dagster's Pipes client, the launcher only Popens and waits."""
    pid_file = tmp_path / "child.pid"
    launcher = f"import subprocess, sys, time\nchild = {start_child}\nopen({str(pid_file)!r}, 'w').write(str(child.pid))\ntime.sleep(60)\n"
    parent = subprocess.Popen([sys.executable, "-c", launcher])
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the launcher never started its child"
        time.sleep(0.1)
    child = int(pid_file.read_text())
    while child_program not in open(f"/proc/{child}/cmdline").read():
        assert time.monotonic() < deadline, f"the child never ran {child_program}"
        time.sleep(0.05)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while not _gone(child):
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            return True
        time.sleep(0.1)
    return False


def test_a_child_started_with_die_with_parent_dies_with_its_launcher(tmp_path: Path) -> None:
    start = "__import__('subprocess').Popen([sys.executable, '-c', 'import time; time.sleep(60)'], preexec_fn=__import__('t2sql_pipeline.core.training.tied_to_parent', fromlist=['x']).die_with_parent)"
    assert not _outlives_a_killed_launcher(tmp_path, start, "time.sleep(60)")


def test_a_tied_command_dies_with_its_launcher_killed_outright(tmp_path: Path) -> None:
    start = "__import__('subprocess').Popen(__import__('t2sql_pipeline.core.training.tied_to_parent', fromlist=['x']).tied_command(['sleep', '60']))"
    assert not _outlives_a_killed_launcher(tmp_path, start, "sleep\x0060")  # exec'd into the command itself


def test_a_launcher_already_gone_starts_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    not_our_parent = 1
    done = subprocess.run(tied_command(["touch", str(marker)], launcher_pid=not_our_parent), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "launcher 1 is gone; not starting touch" in done.stderr
    assert not marker.exists()


def test_the_tied_command_runs_with_its_arguments_and_exit_code(tmp_path: Path) -> None:
    done = subprocess.run(tied_command(["sh", "-c", "echo ran $0; exit 3", "x"]), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (3, "ran x\n")


def test_usage_is_a_one_line_error(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["sleep"]) == 2
    assert capsys.readouterr().err == f"usage: python -m {MODULE} LAUNCHER_PID COMMAND...\n"
