"""YAML plan files -> a validated Plan. Every problem is one line naming the step and key."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from agent_agency_cli.errors import BadInputError, PlanError
from agent_agency_cli.executors.registry import kind_of, plan_keys
from agent_agency_cli.gates.spec import GateList
from agent_agency_cli.planning.dag import ExecutionPlan, analyze
from agent_agency_cli.units import (
    MAX_CONCURRENCY,
    MAX_CPU_CORES,
    MAX_GPUS,
    MAX_OPEN_FILES,
    Duration,
    parse_size_mb,
    short_repr,
)

STEP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PYTHON_REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _str_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _size(value: str | int | None) -> str | int | None:
    # Checked here, kept as written (the plan shows "2G"); the engine parses it again.
    try:
        parse_size_mb(value)
    except BadInputError as exc:
        raise ValueError(str(exc).removeprefix("bad size ")) from None  # the caller names the key
    return value


Size = Annotated[str | int | None, AfterValidator(_size)]


class RetrySpec(BaseModel):
    """`retries:` as a mapping (a bare number N means {attempts: N})."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(0, ge=0, le=100)
    backoff: Literal["exponential", "linear", "fixed"] = "exponential"
    initial: Duration = 1.0
    max: Duration = 60.0
    jitter: float = Field(0.1, ge=0, le=1)


def _retries(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"attempts": value}
    return value


class StepResources(BaseModel):
    """What one step needs from a worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: float | None = Field(None, gt=0, le=MAX_CPU_CORES, allow_inf_nan=False)  # cores (pinned to that many)
    memory: Size = None  # "512M", "2G" or MiB (enforced: RLIMIT_AS)
    gpu: int | None = Field(None, ge=0, le=MAX_GPUS)  # GPUs
    gpu_memory: Size = None
    cpu_time: Duration | None = None  # CPU seconds (enforced: RLIMIT_CPU)
    open_files: int | None = Field(None, ge=16, le=MAX_OPEN_FILES)  # enforced: RLIMIT_NOFILE


class FallbackStep(BaseModel):
    """An alternative way to do a step, run once its retries are exhausted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run: str | list[str] | None = None
    python: str | None = None
    env: dict[str, str] = {}
    timeout: Duration | None = None
    description: str | None = None


class PlanStep(BaseModel):
    """One step of a plan file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str | None = None
    run: str | list[str] | None = None
    python: str | None = None
    needs: Annotated[list[str], BeforeValidator(_str_list)] = Field(default_factory=list)
    timeout: Duration | None = None
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str | None = None
    estimate: Duration | None = None
    idempotent: bool = False
    retries: Annotated[RetrySpec, BeforeValidator(_retries)] = RetrySpec()
    type: str | None = None  # task type for model selection: code, testing, review, ...
    gates: GateList = Field(default_factory=list)
    outputs: Annotated[list[str], BeforeValidator(_str_list)] = Field(default_factory=list)  # files it produces
    touches: Annotated[list[str], BeforeValidator(_str_list)] = Field(default_factory=list)  # paths it changes
    requires: Annotated[list[str], BeforeValidator(_str_list)] = Field(default_factory=list)  # capabilities
    resources: StepResources = StepResources()
    fallback: FallbackStep | None = None
    checkpoint: bool = False  # snapshot the workspace before it runs
    on_failure: Literal["fail", "abort", "rollback", "human"] = "fail"
    # like `make -k`: its failure skips only its dependents; independent steps still run
    continue_on_failure: bool = False
    # python steps: "process" (a worker process, the default) or "inline" (a thread of the engine)
    isolation: Literal["process", "inline"] | None = None
    # model steps (executors/model.py): `model: NAME|auto` with a prompt template
    model: str | None = None
    prompt: str | None = None
    system: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    output: str | None = None  # a file in the workspace that receives the answer
    response_format: Literal["text", "json"] | None = None
    json_schema: dict[str, Any] | None = None  # with response_format: json
    tools: Annotated[list[str], BeforeValidator(_str_list)] = Field(default_factory=list)  # agent loop
    max_turns: int | None = Field(None, ge=1)
    token_budget: int | None = Field(None, ge=1)
    # tool steps (executors/tool.py): one MCP tool call, `tool: SERVER/TOOL`
    tool: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The executor kind (see executors/registry.py): shell, python, model, tool."""
        return kind_of(self.model_dump(include=set(plan_keys())))


STEP_KEYS = tuple(PlanStep.model_fields)
PLAN_KEYS = ("name", "description", "concurrency", "steps")


class Plan(BaseModel):
    """A validated plan: its steps and the computed execution plan."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str | None = None
    description: str | None = None
    concurrency: int | None = None
    steps: list[PlanStep]
    source: str | None = None
    base_dir: str | None = None
    execution: ExecutionPlan


def _suggest(key: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(options)})"


def _nul_path(value: Any, where: str = "") -> str | None:
    """The key path of the first text (key or value) holding a NUL byte, or None."""
    if isinstance(value, str):
        return where if "\0" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{where}.{k}" if where else str(k)
            if isinstance(k, str) and "\0" in k:
                return here
            found = _nul_path(v, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_path(v, f"{where}[{i}]")
            if found is not None:
                return found
    return None


def _step_label(raw: Any, i: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        return f"step {raw['name']!r}"
    return f"step #{i + 1}"


MODEL_ONLY_KEYS = ("prompt", "system", "max_tokens", "temperature", "output", "response_format", "json_schema")


def _validate_step(raw: Any, i: int) -> PlanStep:
    label = _step_label(raw, i)
    if not isinstance(raw, dict):
        raise PlanError(f"{label}: must be a mapping with at least 'name' and 'run' or 'python'")
    if raw.get("prompt") is not None and not any(raw.get(k) is not None for k in plan_keys()):
        raw = {**raw, "model": "auto"}  # a prompt with only a `type:` is a model step chosen by selection
    for key in raw:
        if key not in STEP_KEYS:
            raise PlanError(f"{label}: unknown key {key!r}{_suggest(str(key), STEP_KEYS)}")
    if "name" not in raw:
        raise PlanError(f"{label}: missing 'name'")
    nul = _nul_path(raw)
    if nul is not None:
        # A NUL cannot reach a command line, an environment or a path: refuse it now.
        raise PlanError(f"{label}: {nul!r} contains a NUL byte (\\0); remove it")
    try:
        step = PlanStep.model_validate(raw)
    except ValidationError as exc:
        from agent_agency_cli.input_errors import describe  # lazy: keeps start-up light

        key, msg = describe(exc.errors(), raw)
        raise PlanError(f"{label}: bad {key!r}: {msg.removeprefix('bad duration: ')}") from None
    if not STEP_NAME_RE.match(step.name):
        raise PlanError(
            f"{label}: bad name (use letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, at most 100 characters)"
        )
    given = [key for key in plan_keys() if getattr(step, key, None) is not None]
    if len(given) != 1:
        keys = " or ".join(repr(k) for k in plan_keys())
        raise PlanError(f"{label}: give exactly one of {keys}" + (f" (got {', '.join(given)})" if given else ""))
    if isinstance(step.run, list) and (not step.run or not all(step.run)):
        raise PlanError(f"{label}: 'run' as a list must be a non-empty argv with no empty items")
    if isinstance(step.run, str) and not step.run.strip():
        raise PlanError(f"{label}: 'run' is empty")
    if step.python is not None and not PYTHON_REF_RE.match(step.python):
        raise PlanError(f"{label}: 'python' must look like 'module:function', got {step.python!r}")
    if step.timeout is not None and step.timeout <= 0:
        raise PlanError(f"{label}: 'timeout' must be greater than zero")
    fb = step.fallback
    if fb is not None:
        if (fb.run is None) == (fb.python is None):
            raise PlanError(f"{label}: 'fallback' needs exactly one of 'run' or 'python'")
        if fb.python is not None and not PYTHON_REF_RE.match(fb.python):
            raise PlanError(f"{label}: fallback 'python' must look like 'module:function'")
    if step.tool is not None:
        from agent_agency_cli.executors.tool import split_tool  # lazy: keeps start-up light

        try:
            split_tool(step.tool)
        except ValueError as exc:
            raise PlanError(f"{label}: {exc}") from None
    elif step.arguments:
        raise PlanError(f"{label}: 'arguments' is for tool steps (with 'tool: SERVER/TOOL')")
    if step.tools:
        if step.model is None:
            raise PlanError(f"{label}: 'tools' is for model steps (the agent loop: model + tools)")
        for ref in step.tools:
            server, sep, tool = ref.partition("/")
            if ref != "workspace" and (not sep or not server or not tool or "/" in tool):
                raise PlanError(f"{label}: tools: {ref!r} must be 'workspace', 'SERVER/*' or 'SERVER/TOOL'")
    if step.continue_on_failure and step.on_failure in ("abort", "human"):
        raise PlanError(f"{label}: 'continue_on_failure: true' goes with 'on_failure: fail' or 'rollback', "
                        f"not {step.on_failure!r}")
    if step.on_failure == "rollback" and not step.checkpoint:
        raise PlanError(f"{label}: 'on_failure: rollback' needs 'checkpoint: true'")
    _validate_model_keys(step, label)
    return step


def _validate_model_keys(step: PlanStep, label: str) -> None:
    from agent_agency_cli.executors.templates import TemplateError, step_refs  # lazy: keeps start-up light

    if step.model is None:
        extra = [k for k in MODEL_ONLY_KEYS if getattr(step, k) is not None]
        if extra:
            raise PlanError(f"{label}: {', '.join(repr(k) for k in extra)} only apply to a model step "
                            "(add 'model: NAME' or 'model: auto')")
        return
    if not step.model.strip():
        raise PlanError(f"{label}: 'model' is empty (give a configured model name or 'auto')")
    if not (step.prompt or "").strip():
        raise PlanError(f"{label}: a model step needs a 'prompt'")
    if step.json_schema is not None and step.response_format != "json":
        raise PlanError(f"{label}: 'json_schema' needs 'response_format: json'")
    if step.output is not None and (Path(step.output).is_absolute() or ".." in Path(step.output).parts):
        raise PlanError(f"{label}: 'output' must be a relative path inside the workspace, got {step.output!r}")
    for text in (step.prompt, step.system):
        if text:
            try:
                step_refs(text)
            except TemplateError as exc:
                raise PlanError(f"{label}: {exc}") from None


def _check_template_refs(steps: list[PlanStep]) -> None:
    """`{{ steps.X.output }}` must name a step this one needs, directly or transitively."""
    from agent_agency_cli.executors.templates import step_refs  # lazy: keeps start-up light

    by_name = {s.name: s for s in steps}
    ancestors: dict[str, set[str]] = {}

    def up(name: str) -> set[str]:
        if name not in ancestors:
            ancestors[name] = set()  # guards cycles (reported by the DAG analysis)
            found: set[str] = set()
            for dep in by_name[name].needs:
                if dep in by_name:
                    found |= {dep} | up(dep)
            ancestors[name] = found
        return ancestors[name]

    for s in steps:
        if s.model is None:
            continue
        for text in (s.prompt, s.system):
            for ref in step_refs(text or ""):
                if ref not in by_name:
                    raise PlanError(f"step {s.name!r}: {{{{ steps.{ref}.output }}}} names no step of this plan")
                if ref not in up(s.name):
                    raise PlanError(f"step {s.name!r}: {{{{ steps.{ref}.output }}}} reads step {ref!r}, "
                                    f"which it does not need (add {ref!r} to its 'needs')")


def parse_plan(data: Any, source: str | None = None, base_dir: str | None = None) -> Plan:
    """Validate a plan already loaded from YAML (or built in code) and analyse its DAG.

    The garbage collector is paused meanwhile: validation allocates many small,
    long-lived objects, and full collections would make it grow faster than linearly.
    """
    import gc  # lazy: keeps start-up light

    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_plan(data, source, base_dir)
    finally:
        if enabled:
            gc.enable()


def _parse_plan(data: Any, source: str | None, base_dir: str | None) -> Plan:
    if isinstance(data, list):
        data = {"steps": data}
    if not isinstance(data, dict):
        raise PlanError("a plan must be a mapping with a 'steps' list")
    for key in data:
        if key not in PLAN_KEYS:
            raise PlanError(f"unknown top-level key {key!r}{_suggest(str(key), PLAN_KEYS)}")
    raw_steps = data.get("steps")
    if not raw_steps:
        raise PlanError("the plan has no steps (add a 'steps:' list)")
    if not isinstance(raw_steps, list):
        raise PlanError("'steps' must be a list")
    concurrency = data.get("concurrency")
    if concurrency is not None and (
        not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise PlanError(f"'concurrency' must be a whole number from 1 to {MAX_CONCURRENCY:,}, "
                        f"got {short_repr(concurrency)}")
    steps = [_validate_step(raw, i) for i, raw in enumerate(raw_steps)]
    seen: set[str] = set()
    for s in steps:
        if s.name in seen:
            raise PlanError(f"duplicate step name {s.name!r}")
        seen.add(s.name)
    _check_templates(steps)
    execution = analyze(
        [s.name for s in steps], [s.needs for s in steps], [s.estimate for s in steps]
    )
    _check_template_refs(steps)
    for key in ("name", "description"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise PlanError(f"'{key}' must be text")
    return Plan(
        name=data.get("name"),
        description=data.get("description"),
        concurrency=concurrency,
        steps=steps,
        source=source,
        base_dir=base_dir,
        execution=execution,
    )


def _check_templates(steps: list[PlanStep]) -> None:
    """Placeholders name known things, and `steps.NAME.output` only steps this one needs
    (directly or through others), so the output exists when it runs."""
    from agent_agency_cli.planning.templates import check_names, names_in, step_of  # lazy: keeps start-up light

    needs = {s.name: s.needs for s in steps}
    for s in steps:
        if not s.arguments:
            continue
        ancestors: set[str] = set()
        todo = list(s.needs)
        while todo:
            name = todo.pop()
            if name not in ancestors:
                ancestors.add(name)
                todo.extend(needs.get(name, []))
        problem = check_names(s.arguments, set(needs))
        if problem is None:
            for name in names_in(s.arguments):
                target = step_of(name)
                if target is not None and target not in ancestors:
                    problem = f"{{{{ {name} }}}} needs step {target!r} in 'needs' (it must run first)"
                    break
        if problem:
            raise PlanError(f"step {s.name!r}: arguments: {problem}")


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read, parse and validate a YAML plan file; PlanError names the file and the problem."""
    import yaml  # lazy: keeps start-up light

    p = Path(path)
    shown = str(p) if len(str(p)) <= 200 else f"{str(p)[:100]}…"  # one line, even for a hostile name
    try:
        exists, is_file = p.exists(), p.is_file()
    except OSError as exc:  # a name too long, a loop of links: the OS refuses to look it up
        raise PlanError(f"plan file {shown}: {exc.strerror or exc}") from None
    if not exists:
        raise PlanError(f"plan file {shown} not found")
    if not is_file:
        raise PlanError(f"plan file {shown} is not a file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"plan {p}: cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise PlanError(f"plan {p}: invalid YAML{where}: {problem}") from None
    try:
        return parse_plan(data, source=str(p.resolve()), base_dir=str(p.resolve().parent))
    except PlanError as exc:
        raise PlanError(f"plan {p}: {exc}") from None
