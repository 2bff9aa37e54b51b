"""YAML config -> validated pydantic settings.

Lookup order: --config, $AGENT_AGENCY_CONFIG, config.yaml in the data home,
else built-in defaults. Unknown or wrongly typed keys are errors naming their path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent_agency_cli.errors import ConfigError
from agent_agency_cli.models import ExecutionMode
from agent_agency_cli.paths import CONFIG_ENV
from agent_agency_cli.units import MAX_CPU_CORES, MAX_SIZE_MB, Duration, Percent, parse_size_mb


class _Strict(BaseModel):
    # defer_build, and nested defaults as default_factory (an instance as a default would
    # build the model at import): the validators are built once, for Settings, on first
    # use, instead of one per model at import (~4x the time of the whole submit).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ResourceLimits(_Strict):
    max_cpu_cores: int = Field(16, ge=1, le=MAX_CPU_CORES)
    max_memory_mb: int = Field(65536, ge=1, le=MAX_SIZE_MB)
    max_storage_gb: int = Field(500, ge=1, le=MAX_SIZE_MB)


class AlertThresholds(_Strict):
    duration_warning: Duration = 3600.0  # a task running longer (0 = off)
    memory_warning: Percent = 80.0  # a step's peak memory, of its memory limit
    cpu_warning: Percent = 95.0  # a step's mean CPU, of the cores it asked for
    error_rate_warning: Percent = 5.0  # failed attempts, of all attempts in the task
    # ... once the task has made at least this many attempts: one failure in a small task
    # is that task's failure (reported as such), not an error rate worth an alert.
    error_rate_min_attempts: int = Field(10, ge=1)


class Monitoring(_Strict):
    # How often a running step's process tree is sampled (CPU, memory, I/O, GPU).
    metrics_interval: Duration = 1.0
    # At most this many samples are kept per step attempt (older ones are thinned).
    metrics_max_samples: int = Field(600, ge=10)
    # Archived tasks drop their metric samples and events this long after they
    # finished (the daemon's archive sweep; 0 = keep them forever).
    metrics_retention: Duration = 30 * 86400.0
    # A step's log file (all its attempts) keeps at most this much: the first half and
    # the last half, with a line saying what was dropped between (MiB; 0 = no cap).
    step_log_max: int = 64
    alert_thresholds: AlertThresholds = Field(default_factory=AlertThresholds)

    @field_validator("step_log_max", mode="before")
    @classmethod
    def _log_size(cls, v: Any) -> int:
        return parse_size_mb(v, "step_log_max")


class TaskExecution(_Strict):
    default_mode: ExecutionMode = ExecutionMode.AUTO
    max_concurrent_tasks: int = Field(10, ge=1)
    max_parallel_steps: int = Field(8, ge=1)
    default_timeout: Duration = 7200.0
    quality_gate_timeout: Duration = 1800.0
    cancel_grace_period: Duration = 5.0
    # a step log that cannot be written (disk full, EFBIG, EIO): pause the task (it resumes
    # once the log can be written again) or fail the step
    on_write_error: Literal["pause", "fail"] = "pause"
    resource_limits: ResourceLimits = Field(default_factory=ResourceLimits)
    monitoring: Monitoring = Field(default_factory=Monitoring)


class RetryPolicy(_Strict):
    """How a failed step is retried (a plan step's `retries:` overrides it)."""

    attempts: int = Field(0, ge=0, le=100)  # extra attempts after the first
    backoff: Literal["exponential", "linear", "fixed"] = "exponential"
    initial: Duration = 1.0
    max: Duration = 60.0
    jitter: float = Field(0.1, ge=0, le=1)  # +- this fraction of each delay


class BreakerSettings(_Strict):
    """Circuit breakers per executor target (a command binary, a model, an MCP server)."""

    enabled: bool = True
    failure_threshold: int = Field(5, ge=1)  # failures within `window` that open it
    window: Duration = 60.0
    recovery_timeout: Duration = 30.0  # open -> half-open after this long
    success_threshold: int = Field(1, ge=1)  # half-open trials that close it again


class Recovery(_Strict):
    # What happens to a step that was running when its engine died:
    # idempotent = re-run only steps marked idempotent (or with retries left),
    # always = re-run every interrupted step, never = always wait for a human.
    rerun_interrupted: Literal["idempotent", "always", "never"] = "idempotent"
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    breakers: BreakerSettings = Field(default_factory=BreakerSettings)


ReviewMode = Literal["blocking", "async", "advisory"]


class CouncilSettings(_Strict):
    # Risk level -> how the council reviews before the task runs:
    # blocking = the task waits in awaiting_review for `task review`,
    # async = it runs and the review is recorded alongside, advisory = a note only.
    review_policy: dict[Literal["low", "medium", "high", "critical"], ReviewMode] = {
        "critical": "blocking",
        "high": "blocking",
        "medium": "async",
        "low": "advisory",
    }
    # Who may approve a blocking review (user@host or user); empty = anyone.
    reviewers: list[str] = []

    @field_validator("review_policy", mode="before")
    @classmethod
    def _keep_defaults(cls, value: Any) -> Any:
        # A policy naming only some levels keeps the defaults for the others.
        if isinstance(value, dict):
            return {"critical": "blocking", "high": "blocking", "medium": "async", "low": "advisory",
                    **value}
        return value


class ValidationSettings(_Strict):
    max_description_length: int = Field(2000, ge=10)
    min_description_length: int = Field(3, ge=1)
    max_requirements: int = Field(50, ge=1)


class GatesSettings(_Strict):
    # Gates added to every step, per mode; same form as a plan step's `gates:`.
    defaults: dict[ExecutionMode, list[dict[str, Any]]] = {}


class ArchiveSettings(_Strict):
    # Finished tasks older than this are archived by the daemon (0 = never).
    retention: Duration = 30 * 86400.0


class NotificationHook(_Strict):
    # Event kinds: task_completed, task_failed, task_cancelled, task_escalated,
    # awaiting_approval, awaiting_review, alert (or "*" for all of them).
    events: list[str]
    command: str | None = None  # run with the task JSON on stdin
    webhook: str | None = None  # JSON POST
    retries: int = Field(3, ge=0, le=20)
    timeout: Duration = 5.0


class NotificationSettings(_Strict):
    hooks: list[NotificationHook] = []


class Allocation(_Strict):
    cpu_cores: int = Field(ge=0, le=MAX_CPU_CORES)
    memory_mb: int = Field(ge=0, le=MAX_SIZE_MB)
    gpu_memory_mb: int | None = Field(None, ge=0, le=MAX_SIZE_MB)
    execution_timeout: Duration = 3600.0


def _default_allocations() -> dict[str, Allocation]:
    return {
        "simple": Allocation(cpu_cores=1, memory_mb=1024, execution_timeout=3600),
        "moderate": Allocation(cpu_cores=2, memory_mb=4096, execution_timeout=4 * 3600),
        "complex": Allocation(cpu_cores=8, memory_mb=32768, gpu_memory_mb=16384, execution_timeout=8 * 3600),
        "enterprise": Allocation(cpu_cores=16, memory_mb=65536, gpu_memory_mb=32768, execution_timeout=24 * 3600),
    }


class DaemonSettings(_Strict):
    poll_interval: Duration = 0.05
    stop_timeout: Duration = 30.0
    # Exit after this long with no task running (0 = run until stopped); the next
    # `task create` (or resume, review, retry) starts a daemon again.
    idle_exit: Duration = 600.0


class WorkerResources(_Strict):
    cpu_cores: int = Field(1, ge=0, le=MAX_CPU_CORES)
    memory_mb: int = Field(1024, ge=0, le=MAX_SIZE_MB)
    gpu_memory_mb: int | None = Field(None, ge=0, le=MAX_SIZE_MB)


class WorkerConfig(_Strict):
    id: str
    capabilities: list[str] = []
    resources: WorkerResources = Field(default_factory=WorkerResources)
    models: list[str] = []


SERVER_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class McpServer(_Strict):
    """One MCP server: stdio (`command`, `args`, `env`) or streamable HTTP (`url`, `headers`).

    `env` and `headers` map a name to the *name of an environment variable* holding the
    value, so no secret is written in the config: `env: {GITHUB_TOKEN: MY_GH_TOKEN}`.
    """

    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}  # variable in the server's environment -> variable to read it from
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}  # HTTP header -> environment variable holding its value
    timeout: Duration = 60.0  # per tool call (a step's `timeout` overrides it)
    startup_timeout: Duration = 30.0  # starting the server and the protocol handshake
    idle_close: Duration = 300.0  # a task's session unused this long is closed (a paused task)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (streamable HTTP)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("'args', 'env' and 'cwd' are for stdio servers (with 'command')")
        if self.command is not None and self.headers:
            raise ValueError("'headers' are for HTTP servers (with 'url')")
        return self


def _server_names(value: Any) -> Any:
    if isinstance(value, dict):

        for name in value:
            if not isinstance(name, str) or not re.match(SERVER_NAME_RE, name):
                raise ValueError(f"bad server name {name!r} (letters, digits, '.', '_', '-')")
    return value


class ModelProvider(_Strict):
    """An OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp, LM Studio, OpenAI, ...)."""

    base_url: str
    api_key_env: str | None = None  # the NAME of the environment variable holding the key
    timeout: Duration = 120.0  # per request
    retries: int = Field(2, ge=0, le=10)  # same-endpoint retries (429, 5xx, connection) before the next model
    backoff_initial: Duration = 0.5
    backoff_max: Duration = 30.0  # also caps a Retry-After


class ModelEntry(_Strict):
    """A model by the name plans and selection use."""

    provider: str
    id: str | None = None  # the provider's model id (default: the entry's name)
    context: int | None = Field(None, ge=1)  # context window, tokens (a prompt that does not fit skips it)
    price_in: float = Field(0.0, ge=0)  # per million input tokens
    price_out: float = Field(0.0, ge=0)  # per million output tokens


def _rule(value: Any) -> Any:
    return {"primary": value} if isinstance(value, str) else value


class SelectionRule(_Strict):
    """The seed's ModelSelection: primary, fallbacks, specialised models per step type."""

    primary: str
    fallbacks: list[str] = []
    specialized: dict[str, str] = {}  # step type -> model
    reasoning: str | None = None


Rule = Annotated[SelectionRule, BeforeValidator(_rule)]


class ModelSelectionSettings(_Strict):
    default: Rule | None = None  # when no requirement rule matches
    requirements: dict[str, Rule] = {}  # a task requirement (e.g. code, creative) -> its rule
    types: dict[str, str] = {}  # step type -> model, for every rule
    planner: str | None = None  # the model that turns a description into a plan
    # `model: auto` ranks the candidates that have at least this many learnt runs of the
    # step's type by success rate, then mean cost (planning/selection.py); null: config order only.
    learning_min_runs: int | None = Field(5, ge=1)


class ModelsSettings(_Strict):
    providers: dict[str, ModelProvider] = {}
    models: dict[str, ModelEntry] = {}
    selection: ModelSelectionSettings = Field(default_factory=ModelSelectionSettings)

    @model_validator(mode="after")
    def _references(self) -> ModelsSettings:
        for name, m in self.models.items():
            if m.provider not in self.providers:
                raise ValueError(f"model {name!r} names provider {m.provider!r}, which is not under "
                                 "models.providers")
        sel = self.selection
        named: list[tuple[str, str]] = [("types." + t, m) for t, m in sel.types.items()]
        if sel.planner:
            named.append(("planner", sel.planner))
        for where, rule in [("default", sel.default)] + [(f"requirements.{k}", r)
                                                         for k, r in sel.requirements.items()]:
            if rule is None:
                continue
            named += [(where, rule.primary)] + [(where, f) for f in rule.fallbacks]
            named += [(f"{where}.specialized.{t}", m) for t, m in rule.specialized.items()]
        for where, model in named:
            if model not in self.models:
                raise ValueError(f"selection {where} names model {model!r}, which is not under models.models")
        return self


class ExecutionSettings(_Strict):
    """Where step attempts run: this machine (local) or a Ray cluster (ray, the `ray` extra)."""

    backend: Literal["local", "ray"] = "local"
    # Ray's GCS address ("HOST:PORT", or "auto" for the cluster `ray start --head` started
    # on this machine); None: the daemon starts a Ray instance of its own.
    ray_address: str | None = None
    # Ray namespace of the node agents (one detached actor per node).
    ray_namespace: str = Field("agent_agency", min_length=1)


class Settings(_Strict):
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    task_execution: TaskExecution = Field(default_factory=TaskExecution)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    council: CouncilSettings = Field(default_factory=CouncilSettings)
    gates: GatesSettings = Field(default_factory=GatesSettings)
    recovery: Recovery = Field(default_factory=Recovery)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    # Default resources of a step by task complexity (the seed's table).
    resource_allocation: dict[Literal["simple", "moderate", "complex", "enterprise"], Allocation] = (
        Field(default_factory=_default_allocations)
    )
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    workers: list[WorkerConfig] = []
    # MCP servers that `tool: SERVER/TOOL` steps and `tools list` use.
    mcp_servers: Annotated[dict[str, McpServer], BeforeValidator(_server_names)] = {}
    models: ModelsSettings = Field(default_factory=ModelsSettings)


def format_validation_error(source: str, exc: ValidationError, data: Any = None) -> str:
    """One line naming the first bad key by its dotted path, in the YAML's own words
    (an unknown key gets a "did you mean")."""
    from agent_agency_cli.input_errors import describe, did_you_mean, dotted, input_path  # lazy: keeps start-up light

    errors = exc.errors()
    err = errors[0]
    more = len({input_path(e["loc"], data) for e in errors}) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    if err["type"] == "extra_forbidden":
        path = dotted(err["loc"])
        return f"{source}: unknown key {path}{did_you_mean(str(err['loc'][-1]), _keys_at(err['loc'][:-1]))}{suffix}"
    path, msg = describe(errors, data)
    return f"{source}: {path or '(top level)'}: {msg}{suffix}"


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The allowed keys of the settings section at `loc` (empty where it is not a section)."""

    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list section (workers): its model was taken below
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = field.annotation
        args = [a for a in get_args(model) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = args[0] if args else model
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields)


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
    import yaml  # lazy: keeps start-up light

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
        raise ConfigError(format_validation_error(f"config {p}", exc, data)) from None
