"""Where state lives: $AGENT_AGENCY_HOME, else the platform's user data dir.

The data home is private, as ssh keeps `~/.ssh`: created 0700, refused when another
user owns it or group/others can write to it (they could plant a config hook or read
the database). Files in it are created 0600 without following symlinks
(`open_private`, `write_private`).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import IO, Any

from agent_agency_cli.errors import BadInputError

APP_NAME = "agent-agency-cli"
HOME_ENV = "AGENT_AGENCY_HOME"
CONFIG_ENV = "AGENT_AGENCY_CONFIG"


def data_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data home (created if missing): explicit > $AGENT_AGENCY_HOME > platform dir."""
    if explicit is not None:
        home = Path(explicit)
    elif os.environ.get(HOME_ENV):
        home = Path(os.environ[HOME_ENV])
    elif sys.platform == "darwin":
        home = Path.home() / "Library" / "Application Support" / APP_NAME
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        home = Path(base) / APP_NAME
    home = Path(os.path.expanduser(home)).resolve()  # '~nosuchuser' stays as typed
    if not home.exists():
        try:
            home.parent.mkdir(parents=True, exist_ok=True)
            home.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise BadInputError(f"cannot create the data home {home}: {exc.strerror or exc}; "
                                "pass --home DIR naming a directory you can write") from None
    return ensure_private_home(home)


def ensure_private_home(home: Path) -> Path:
    """Refuse a data home that is not a directory, that another user owns, or that group or
    others may write to; make one that others may only read 0700. Returns `home`."""
    try:
        st = os.stat(home)
    except OSError as exc:
        raise BadInputError(f"cannot use the data home {home}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise BadInputError(f"the data home {home} is not a directory; choose another with --home DIR")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise BadInputError(f"the data home {home} belongs to another user (uid {st.st_uid}); "
                            "use a home of your own with --home DIR or $AGENT_AGENCY_HOME")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise BadInputError(f"the data home {home} is writable by group or others (mode {mode:04o}); "
                            f"make it private with: chmod 700 {home}")
    if mode & 0o077:
        os.chmod(home, 0o700)  # readable by others (a home made before it was private): tighten it
    return home


def open_private(path: Path, mode: str = "a", encoding: str | None = "utf-8") -> IO[Any]:
    """Open `path` for writing, created 0600, never through a symlink (ELOOP is an OSError).

    `mode` is "a", "w", "ab", "wb" or "a+"."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    if "+" in mode:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding=encoding, errors="replace")


def write_private(path: Path, data: str) -> None:
    """Write `data` to `path` atomically: a fresh 0600 temporary file (an existing one, or a
    symlink planted in its place, is removed, never followed), then renamed over `path`."""
    tmp = path.with_suffix(".tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
    os.replace(tmp, path)


class HomePaths:
    """Named paths inside one data home."""

    def __init__(self, home: Path):
        self.home = home

    @property
    def db(self) -> Path:
        return self.home / "agency.db"

    @property
    def config(self) -> Path:
        return self.home / "config.yaml"

    @property
    def daemon_lock(self) -> Path:
        return self.home / "daemon.lock"

    @property
    def daemon_info(self) -> Path:
        return self.home / "daemon.json"

    @property
    def daemon_log(self) -> Path:
        return self.home / "daemon.log"

    @property
    def daemon_socket(self) -> Path:
        """Where the daemon takes `task create` requests (orchestration/submit_server.py)."""
        return self.home / "daemon.sock"

    def task_dir(self, task_id: str) -> Path:
        return self.home / "tasks" / task_id

    def workspace(self, task_id: str) -> Path:
        return self.task_dir(task_id) / "workspace"

    def logs_dir(self, task_id: str) -> Path:
        return self.task_dir(task_id) / "logs"

    def step_log(self, task_id: str, step: str) -> Path:
        return self.logs_dir(task_id) / f"{step}.log"
