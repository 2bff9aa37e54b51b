"""YAML config -> validated pydantic settings.

Lookup order: --config, $AGENT_AGENCY_CONFIG, config.yaml in the data home,
else built-in defaults. Unknown or wrongly typed keys are errors naming their path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from agent_agency_cli.errors import BadInputError, ConfigError
from agent_agency_cli.models import ExecutionMode
from agent_agency_cli.paths import CONFIG_ENV
from agent_agency_cli.timeutil import parse_duration


def _duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except BadInputError as exc:
        raise ValueError(str(exc)) from None


def _percent(value: Any) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1])
        except ValueError:
            raise ValueError(f"bad percentage {value!r} (use e.g. 80%)") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"bad percentage {value!r} (use e.g. 80%)")


Duration = Annotated[float, BeforeValidator(_duration)]
Percent = Annotated[float, BeforeValidator(_percent)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResourceLimits(_Strict):
    max_cpu_cores: int = Field(16, ge=1)
    max_memory_mb: int = Field(65536, ge=1)
    max_storage_gb: int = Field(500, ge=1)


class AlertThresholds(_Strict):
    duration_warning: Duration = 3600.0
    memory_warning: Percent = 80.0
    error_rate_warning: Percent = 5.0


class Monitoring(_Strict):
    progress_interval: Duration = 10.0
    metrics_retention: Duration = 30 * 86400.0
    alert_thresholds: AlertThresholds = AlertThresholds()


class TaskExecution(_Strict):
    default_mode: ExecutionMode = ExecutionMode.AUTO
    max_concurrent_tasks: int = Field(10, ge=1)
    max_parallel_steps: int = Field(8, ge=1)
    default_timeout: Duration = 7200.0
    quality_gate_timeout: Duration = 1800.0
    cancel_grace_period: Duration = 5.0
    resource_limits: ResourceLimits = ResourceLimits()
    monitoring: Monitoring = Monitoring()


class Recovery(_Strict):
    # What happens to a step that was running when its engine died:
    # idempotent = re-run only steps marked idempotent (or with retries left),
    # always = re-run every interrupted step, never = always wait for a human.
    rerun_interrupted: Literal["idempotent", "always", "never"] = "idempotent"


class DaemonSettings(_Strict):
    poll_interval: Duration = 0.05
    stop_timeout: Duration = 30.0
    idle_exit: Duration = 0.0  # 0 = run until stopped


class WorkerResources(_Strict):
    cpu_cores: int = Field(1, ge=0)
    memory_mb: int = Field(1024, ge=0)
    gpu_memory_mb: int | None = None
    storage_gb: int | None = None


class WorkerConfig(_Strict):
    id: str
    capabilities: list[str] = []
    resources: WorkerResources = WorkerResources()
    models: list[str] = []


class Settings(_Strict):
    task_execution: TaskExecution = TaskExecution()
    recovery: Recovery = Recovery()
    daemon: DaemonSettings = DaemonSettings()
    workers: list[WorkerConfig] = []


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line naming the first bad key by its dotted path."""
    err = exc.errors()[0]
    path = ".".join(str(p) for p in err["loc"]) or "(top level)"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key {path}{suffix}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{source}: {path}: {msg} (got {err.get('input')!r}){suffix}"


def load_settings(path: str | os.PathLike[str] | None = None, home: Path | None = None) -> Settings:
    """Load and validate settings; raise ConfigError with one clear line on any problem."""
    from_env = False
    if path is None and os.environ.get(CONFIG_ENV):
        path, from_env = os.environ[CONFIG_ENV], True
    if path is None and home is not None and (home / "config.yaml").exists():
        path = home / "config.yaml"
    if path is None:
        return Settings()
    p = Path(path)
    if not p.is_file():
        hint = " (set by $AGENT_AGENCY_CONFIG)" if from_env else ""
        raise ConfigError(f"config file {p} not found{hint}")
    import yaml

    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config {p}: invalid YAML{where}") from None
    except OSError as exc:
        raise ConfigError(f"config {p}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {p}: the top level must be a mapping of keys")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(f"config {p}", exc)) from None
