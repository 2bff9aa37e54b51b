"""The planner: a description and requirements -> a plan in the plan-file schema.

With `models.selection.planner` configured, a model writes the plan (the plan JSON
Schema as its response format), validated by the same validator as plan files, with
one repair round that shows the model the error. Without one, the built-in planner
builds what it can from the requirements and the work directory (a Python project:
lint, test and security-scan steps with their quality gates) and says plainly what
it could not plan and how to configure a model. It never returns an empty plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_agency_cli.errors import BadInputError, PlanError

CONFIGURE_HINT = ("configure a planner model (models.providers, models.models and models.selection.planner "
                  "in the config; see config.example.yaml) to plan it")
BRIEF_STEP = "agent_agency_cli.planning.brief:write_brief"

# requirement keywords -> what the built-in planner can do about them
TEST_WORDS = ("test", "tested", "tests pass", "tests")
LINT_WORDS = ("lint", "linted", "style", "no lint errors", "clean")
SECURE_WORDS = ("secure", "security", "safe")


@dataclass
class PlannedTask:
    data: dict[str, Any]  # the plan, as a plan file would hold it
    source: str  # builtin | model
    notes: list[str] = field(default_factory=list)  # what could not be planned, and how to
    model: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)  # the planner's model calls

    def yaml(self) -> str:
        import yaml  # lazy: keeps start-up light

        return yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "model": self.model, "notes": self.notes, "plan": self.data}


def plan_task(description: str, requirements: list[str], workdir: Path | None, settings: Any,
              env: dict[str, str] | None = None) -> PlannedTask:
    """Plan a task: the planner model if one is configured, else the built-in planner."""
    description = (description or "").strip()
    if not description:
        raise BadInputError("nothing to plan: give --description (and --requirements), or a plan with --plan FILE")
    if settings.models.selection.planner:
        return model_plan(description, requirements, workdir, settings, env)
    return builtin_plan(description, requirements, workdir)


# -- the built-in planner ---------------------------------------------------------


def _matches(req: str, words: tuple[str, ...]) -> bool:
    r = req.strip().lower()
    return any(r == w or r.startswith(w) or w in r.split() for w in words)


def _python_project(workdir: Path | None) -> bool:
    if workdir is None or not workdir.is_dir():
        return False
    if any((workdir / f).is_file() for f in ("pyproject.toml", "setup.py", "setup.cfg")):
        return True
    return any(p.suffix == ".py" for p in workdir.iterdir())


def _has_tests(workdir: Path) -> bool:
    if (workdir / "tests").is_dir() or (workdir / "test").is_dir():
        return True
    return any(workdir.glob("test_*.py")) or any(workdir.glob("*_test.py"))


def _importable(module: str) -> bool:
    import importlib.util  # lazy: keeps start-up light

    return importlib.util.find_spec(module) is not None


def builtin_plan(description: str, requirements: list[str], workdir: Path | None) -> PlannedTask:
    """A plan from the requirements and the work directory, with notes on what is left out."""
    notes: list[str] = [f"implementing {description!r} needs a model: {CONFIGURE_HINT}"]
    steps: list[dict[str, Any]] = []
    python = _python_project(workdir)
    checks: list[str] = []
    for req in requirements:
        if _matches(req, TEST_WORDS) or _matches(req, LINT_WORDS) or _matches(req, SECURE_WORDS):
            if not python:
                where = f"{workdir}" if workdir else "the task's empty workspace (no --workdir)"
                notes.append(f"requirement {req!r}: no Python project found in {where}; pass --workdir "
                             "with the project to lint, test and scan it")
            else:
                checks.append(req)
        else:
            notes.append(f"requirement {req!r}: the built-in planner has no step for it; {CONFIGURE_HINT}")
    if python and workdir is not None:
        wanted = {kind for req in checks for kind, words in
                  (("lint", LINT_WORDS), ("test", TEST_WORDS), ("security", SECURE_WORDS)) if _matches(req, words)}
        if "lint" in wanted:
            step: dict[str, Any] = {"name": "lint", "type": "review",
                                    "description": "Byte-compile every module (syntax check)",
                                    "run": "python3 -m compileall -q -x '/(\\.venv|\\.git|build|dist)/' .",
                                    "timeout": "10m"}
            if _importable("ruff"):
                step["gates"] = [{"type": "code_style"}]
            else:
                notes.append("lint: ruff is not installed, so the code_style gate is left out "
                             "(pip install 'agent-agency-cli[gates]')")
            steps.append(step)
        if "test" in wanted:
            if not _has_tests(workdir):
                notes.append(f"requirement tested: {workdir} has no tests (tests/ or test_*.py); "
                             "nothing to run yet")
            else:
                cmd = "python3 -m pytest -q" if _importable("pytest") else "python3 -m unittest discover -v"
                steps.append({"name": "test", "type": "testing", "description": "Run the project's tests",
                              "run": cmd, "timeout": "30m", "needs": [s["name"] for s in steps[:1]],
                              "env": {"PYTHONDONTWRITEBYTECODE": "1"},
                              "gates": [{"type": "functional_test", "command": cmd}]})
        if "security" in wanted:
            if _importable("bandit"):
                steps.append({"name": "security-scan", "type": "review",
                              "description": "Scan the sources for security issues (bandit and the "
                                             "shell scanner)",
                              "run": "find . -name '*.py' -not -path './.venv/*' -not -path './.git/*' | sort",
                              "timeout": "10m",
                              "gates": [{"type": "security_scan", "severity": "medium"}]})
            else:
                notes.append("requirement secure: bandit is not installed, so no security scan "
                             "(pip install 'agent-agency-cli[gates]')")
    brief = {
        "name": "brief", "type": "planning",
        "description": "Write TASK.md: the task, its requirements and what is left to plan",
        "python": BRIEF_STEP, "estimate": "0.1s",
        "env": {"AGENCY_BRIEF": _brief_text(description, requirements, steps, notes)},
    }
    data = {"name": "planned", "description": description, "steps": [brief, *steps]}
    return PlannedTask(data, "builtin", notes)


def _brief_text(description: str, requirements: list[str], steps: list[dict[str, Any]],
                notes: list[str]) -> str:
    lines = [f"# {description}", "", "Requirements: " + (", ".join(requirements) or "none"), "",
             "Planned steps (built-in planner):"]
    lines += [f"- {s['name']}: {s['description']}" for s in steps] or ["- none besides this brief"]
    lines += ["", "Not planned:"] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# -- the model planner --------------------------------------------------------------


def plan_schema() -> dict[str, Any]:
    """The plan JSON Schema (from the PlanStep pydantic model) given to the planner model."""
    from agent_agency_cli.planning.plan_file import PlanStep  # lazy: keeps start-up light

    step = PlanStep.model_json_schema()
    defs = step.pop("$defs", {})
    return {"type": "object", "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                                             "steps": {"type": "array", "items": step, "minItems": 1}},
            "required": ["steps"], "$defs": defs}


def _workdir_listing(workdir: Path | None, limit: int = 60) -> str:
    if workdir is None:
        return "(no work directory: steps run in an empty workspace)"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in workdir.iterdir()
                   if not p.name.startswith("."))[:limit]
    return ", ".join(names) or "(empty)"


def _check(data: Any, requirements: list[str], settings: Any) -> None:
    """The plan-file validator, plus: every model a step names is configured."""
    from agent_agency_cli.planning.plan_file import parse_plan  # lazy: keeps start-up light
    from agent_agency_cli.planning.selection import select_model  # lazy: keeps start-up light

    plan = parse_plan(data)
    for s in plan.steps:
        if s.model is not None:
            try:
                select_model(s.type, requirements, settings.models, s.model)
            except BadInputError as exc:
                raise PlanError(f"step {s.name!r}: {exc}") from None


def model_plan(description: str, requirements: list[str], workdir: Path | None, settings: Any,
               env: dict[str, str] | None = None) -> PlannedTask:
    """Ask the planner model for a plan; repair once with the validation error, then fail clearly."""
    import anyio  # lazy: keeps start-up light

    # lazy: keeps start-up light
    from agent_agency_cli.executors.model_client import call_with_retries, client_for, resolve

    name = settings.models.selection.planner
    ep = resolve(name, settings.models, env)
    schema = plan_schema()
    models = ", ".join(sorted(settings.models.models)) or "none"
    system = (
        "You plan software tasks for agent-agency-cli. Answer with one JSON object: a plan whose "
        "`steps` each have a unique `name`, a `description`, a `type` (planning, implementation, testing, "
        "review, analysis), `needs` (names of earlier steps), and exactly one of `run` (a shell command) "
        "or `model` (a configured model name or auto) with a `prompt` (which may use {{ description }}, "
        "{{ requirements }} and {{ steps.NAME.output }} of steps it needs). Add `gates` where a quality "
        f"gate checks the result. Configured models: {models}.\nJSON Schema:\n{json.dumps(schema)}"
    )
    user = (f"Task: {description}\nRequirements: {', '.join(requirements) or 'none'}\n"
            f"Work directory: {_workdir_listing(workdir)}")
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    calls: list[dict[str, Any]] = []
    fmt = {"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}}

    async def ask(msgs: list[dict[str, Any]]) -> Any:
        services: dict[str, Any] = {}
        try:
            return await call_with_retries(
                ep, client_for(ep, services), msgs, on_call=lambda r: calls.append(r.record(ep, "planner")),
                on_retry=lambda reason, delay, n: None, sleep=anyio.sleep, stream=False, response_format=fmt)
        finally:
            from agent_agency_cli.executors.registry import close_services  # lazy: keeps start-up light

            await close_services(services)

    def attempt(msgs: list[dict[str, Any]]) -> tuple[Any, str | None, str]:
        res = anyio.run(ask, msgs)
        if not res.ok:
            raise BadInputError(f"planner model {name}: {res.error}")
        try:
            data = json.loads(res.text)
        except ValueError as exc:
            return None, f"the answer is not JSON: {exc}", res.text
        try:
            _check(data, requirements, settings)
        except PlanError as exc:
            return data, str(exc), res.text
        return data, None, res.text

    data, error, text = attempt(messages)
    if error is not None:
        repair = [*messages, {"role": "assistant", "content": text},
                  {"role": "user", "content": f"That plan is invalid: {error}. Answer again with the corrected "
                                              "plan as JSON only."}]
        data, error2, _ = attempt(repair)
        if error2 is not None:
            raise BadInputError(f"planner model {name} gave an invalid plan twice: {error2} "
                                f"(first: {error})")
    if isinstance(data, list):
        data = {"steps": data}
    data.setdefault("description", description)
    return PlannedTask(data, "model", [], name, calls)
