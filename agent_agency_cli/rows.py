"""Typed rows read from the database: a step's stored spec, a step row, a task row.

Built at the store's edge (`Store.step_rows`, `Store.task_row`) and used by the engine and
the executors instead of `sqlite3.Row` plus `json.loads` and string keys: `spec.timeout`,
`spec.retries`, `spec.gates`, `row.kind`.

The stored JSON does not change: a spec is what plan validation produced
(`PlanStep.model_dump(exclude_defaults=True)`, plus the model `selection` chosen at submit), so
every field here has the plan's default, and `StepSpec.to_json()` gives back exactly the keys that
were stored. Keys this version does not know (a plug-in executor's) are kept as extras.

Speed (bench/typed_rows.py): a spec is parsed with `model_validate_json` straight from the
column (pydantic-core's parser, a few microseconds); `model_construct` measured slower than
validation for a model of this many fields, and a damaged row must still fail with one clear
line (`StoredDataError`). A step row's other columns are SQLite's own types, so `StepRow` is a
slotted dataclass that converts them by hand; a task row is read once per task and validated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent_agency_cli.errors import AgencyError
from agent_agency_cli.models import StepStatus, TaskStatus


class StoredDataError(AgencyError):
    """A row whose stored JSON cannot be read (a damaged database or a newer version's data)."""


def _where(where: str | Mapping[str, Any]) -> str:
    return where if isinstance(where, str) else f"task {where['task_id']} step {where['name']!r}"


def _problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "value"
    return f"{where}: {err['msg']}"


class StepSpec(BaseModel):
    """A step as its plan declared it (steps.spec). Nested overrides (`retries`, `resources`,
    `fallback`) stay as stored: only the keys the plan set, merged with the settings on use."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str | None = None
    description: str | None = None
    # the executor plan keys (executors/registry.py): exactly one is set
    run: str | list[str] | None = None
    python: str | None = None
    model: str | None = None
    tool: str | None = None
    needs: list[str] = Field(default_factory=list)
    timeout: float | None = None
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str | None = None
    estimate: float | None = None
    idempotent: bool = False
    retries: dict[str, Any] = Field(default_factory=dict)  # RetrySpec keys the plan set
    type: str | None = None
    gates: list[Any] = Field(default_factory=list)  # parsed by gates.spec when they run (may hold secrets)
    outputs: list[str] = Field(default_factory=list)
    touches: list[str] = Field(default_factory=list)
    requires: list[str] = Field(default_factory=list)
    resources: dict[str, Any] = Field(default_factory=dict)  # StepResources keys the plan set
    fallback: dict[str, Any] | None = None  # FallbackStep keys
    checkpoint: bool = False
    on_failure: str = "fail"
    continue_on_failure: bool = False
    isolation: str | None = None
    # model steps
    prompt: str | None = None
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    output: str | None = None
    response_format: str | None = None
    json_schema: dict[str, Any] | None = None
    tools: list[str] = Field(default_factory=list)
    max_turns: int | None = None
    token_budget: int | None = None
    selection: dict[str, Any] | None = None  # the model chain chosen at submit (planning/selection.py)
    # tool steps
    arguments: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str | bytes, where: str | Mapping[str, Any] = "a step") -> StepSpec:
        """Parse a stored spec; StoredDataError (one line) when it is not a valid spec. `where`
        names the step in that line (or is its row, named only on error: this path is hot)."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise StoredDataError(f"{_where(where)}: the stored spec cannot be read ({_problem(exc)}); the "
                                  "database is damaged or was written by a newer version") from None

    @classmethod
    def of(cls, value: StepSpec | Mapping[str, Any]) -> StepSpec:
        """A spec from a plain mapping (a plan step's dump, a fallback merged in), validated."""
        return value if isinstance(value, StepSpec) else cls.model_validate(value)

    def to_json(self) -> dict[str, Any]:
        """The spec as it is stored: only the keys it was given (plan defaults are left out)."""
        return self.model_dump(exclude_unset=True)

    def replace(self, **changes: Any) -> StepSpec:
        """A copy with `changes` applied (validated; the changed keys count as given)."""
        return type(self).model_validate({**self.to_json(), **changes})

    def with_fallback(self) -> StepSpec:
        """The spec its fallback runs with: the fallback's command (`run` or `python`), `env` and
        `timeout` over this one's; the other executor key goes (a `python` fallback replaces `run`)."""
        fb = self.fallback or {}
        merged = {**self.to_json(), **{k: v for k, v in fb.items() if k in ("run", "python", "env", "timeout")}}
        merged.pop("run" if "python" in fb else "python", None)
        return type(self).model_validate(merged)

    # Mapping access, for plug-in executors written against the plain-dict spec; the
    # package's own code reads attributes.
    def get(self, key: str, default: Any = None) -> Any:
        value = self._value(key)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        value = self._value(key)
        if value is None and key not in self.model_fields_set:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.model_fields_set

    def keys(self) -> Iterator[str]:
        return iter(self.to_json())

    def _value(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        return (self.__pydantic_extra__ or {}).get(key)


def _loads(text: str | None, default: Any, where: str | Mapping[str, Any]) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StoredDataError(f"{_where(where)}: the stored JSON cannot be read ({exc}); the database is "
                              "damaged") from None


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a setattr call per field
class StepRow:
    """One row of the steps table, its JSON columns parsed.

    A slotted dataclass rather than a pydantic model: the engine loads every step of a task
    through it, and the plain columns are SQLite's own types, so the JSON columns (the spec
    above all) are the only ones worth validating (bench/typed_rows.py measures the cost)."""

    task_id: str
    name: str
    idx: int
    status: StepStatus
    kind: str
    spec: StepSpec
    needs: list[str] = field(default_factory=list)
    estimate: float | None = None
    timeout: float | None = None
    idempotent: bool = False
    attempt: int = 0
    max_attempts: int = 1
    pid: int | None = None
    pgid: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    paused_at: float | None = None
    paused_total: float = 0.0
    duration: float | None = None
    progress: float | None = None
    progress_message: str | None = None
    overridden: bool = False
    worker: str | None = None
    metrics: dict[str, Any] | None = None
    next_retry_at: float | None = None
    signature: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StepRow:
        """From a `SELECT * FROM steps` row; StoredDataError (one line) on a damaged row."""
        where = row  # named only on error
        try:
            status = StepStatus(row["status"])
        except ValueError:
            raise StoredDataError(f"{_where(row)}: the stored row cannot be read (status: unknown step status "
                                  f"{row['status']!r}); the database is damaged or was written by a newer "
                                  "version") from None
        needs, metrics = row["needs"], row["metrics"]
        return cls(
            row["task_id"], row["name"], row["idx"], status, row["kind"], StepSpec.from_json(row["spec"], where),
            [] if needs in (None, "[]") else _loads(needs, [], where), row["estimate"], row["timeout"],
            bool(row["idempotent"]), row["attempt"], row["max_attempts"], row["pid"], row["pgid"],
            row["exit_code"], row["reason"], row["started_at"], row["finished_at"], row["paused_at"],
            row["paused_total"] or 0.0, row["duration"], row["progress"], row["progress_message"],
            bool(row["overridden"]), row["worker"], None if metrics is None else _loads(metrics, None, where),
            row["next_retry_at"], row["signature"],
        )


class TaskRow(BaseModel):
    """One row of the tasks table, its JSON columns parsed (internal columns such as
    `priority_rank` are here for the engine; response models decide what a person sees)."""

    model_config = ConfigDict(frozen=True)

    id: str
    description: str
    mode: str
    priority: str
    priority_rank: int = 0
    status: TaskStatus
    requirements: list[str] = Field(default_factory=list)
    deadline: float | None = None
    workdir: str | None = None
    plan_path: str | None = None
    plan_dir: str | None = None
    plan: dict[str, Any] = Field(default_factory=dict)
    concurrency: int | None = None
    limits: dict[str, Any] = Field(default_factory=dict)
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    paused_at: float | None = None
    paused_total: float = 0.0
    owner: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    failed_step: str | None = None
    updated_at: float
    validation: dict[str, Any] | None = None
    risk: dict[str, Any] | None = None
    review_mode: str | None = None
    completion: dict[str, Any] | None = None
    archive_path: str | None = None
    archived_at: float | None = None
    approve_all: bool = False
    complexity: str | None = None
    metrics: dict[str, Any] | None = None
    stakeholders: list[Any] = Field(default_factory=list)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TaskRow:
        """From a `SELECT * FROM tasks` row; StoredDataError (one line) on a damaged row."""
        where = f"task {row['id']}"
        data = dict(row)
        for key, default in _TASK_JSON.items():
            if key in data:
                data[key] = _loads(data[key], default, where) if data[key] is not None or default is None \
                    else default
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise StoredDataError(f"{where}: the stored row cannot be read ({_problem(exc)}); the database "
                                  "is damaged or was written by a newer version") from None


# JSON columns of the tasks table -> the value an empty (NULL) column means
_TASK_JSON: dict[str, Any] = {"requirements": [], "plan": {}, "limits": {}, "validation": None, "risk": None,
                              "completion": None, "metrics": None, "stakeholders": []}
