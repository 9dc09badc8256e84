"""Background processes of a local network, known by the PID files under ``DIR/run``.

A PID file holds the PID and the marker (a string from its command line, the config path) that
tells our process from an unrelated one that reused the PID after a reboot or a crash; a PID
whose command line lacks the marker is treated as gone and never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from careledger.netctl.layout import NetworkLayout


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc (not Linux): fall back to "some process has this PID"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
        return ""


def running_pid(layout: NetworkLayout, name: str) -> int | None:
    """The PID of process ``name`` if it is still ours and alive; removes a stale PID file."""
    reap()
    path = layout.pid_file(name)
    try:
        pid_text, marker = path.read_text().split("\n", 1)
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    cmdline = _cmdline(pid)
    if cmdline is None or (cmdline and marker.strip() not in cmdline) or _is_zombie(pid):
        path.unlink(missing_ok=True)
        return None
    return pid


def _is_zombie(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] == "Z"


def spawn(layout: NetworkLayout, name: str, argv: list[str], marker: str) -> int:
    """Start ``argv`` in its own session (it outlives the CLI), output to its log file."""
    log = layout.log_file(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    layout.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=layout.root,
        )
    layout.pid_file(name).write_text(f"{proc.pid}\n{marker}\n")
    # The child is reaped by whoever waits for it; a CLI that exits leaves it to init.
    _children[proc.pid] = proc
    return proc.pid


_children: dict[int, subprocess.Popen[bytes]] = {}


def reap() -> None:
    """Collect the exit status of every child of ours that has exited (no zombies left)."""
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            _children.pop(pid, None)


def exited(pid: int) -> int | None:
    """Exit status of a child this process spawned, once it has exited (None while running)."""
    proc = _children.get(pid)
    return None if proc is None else proc.poll()


def stop(layout: NetworkLayout, name: str, timeout: float = 15.0) -> bool:
    """SIGTERM process ``name``, SIGKILL after ``timeout``; True if it was running."""
    pid = running_pid(layout, name)
    if pid is None:
        layout.pid_file(name).unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    layout.pid_file(name).unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    proc = _children.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            del _children[pid]
            return False
        return True
    return _cmdline(pid) is not None and not _is_zombie(pid)
