"""Where state lives: $AGENT_AGENCY_HOME, else the platform's user data dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
    if home.exists() and not home.is_dir():
        raise BadInputError(f"data home {home} is not a directory: pass --home DIR (or set "
                            f"${HOME_ENV}) naming a directory")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot create the data home {home}: {exc.strerror or exc}; "
                            "pass --home DIR naming a directory you can write") from None
    return home


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

    def task_dir(self, task_id: str) -> Path:
        return self.home / "tasks" / task_id

    def workspace(self, task_id: str) -> Path:
        return self.task_dir(task_id) / "workspace"

    def logs_dir(self, task_id: str) -> Path:
        return self.task_dir(task_id) / "logs"

    def step_log(self, task_id: str, step: str) -> Path:
        return self.logs_dir(task_id) / f"{step}.log"
