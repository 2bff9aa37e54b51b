"""Templates in step text: `{{ description }}`, `{{ requirements }}`, `{{ steps.NAME.output }}`
(and a part of a structured output: `{{ steps.NAME.output.KEY.0 }}`).

Used by tool steps' `arguments:` (and model steps' prompts). A string that is exactly
one placeholder becomes the value itself (a previous step's structured output stays
structured); a placeholder inside longer text is replaced by its text (JSON for
structured values). An unknown name is an error naming it, never an empty string.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from agent_agency_cli.store.template_values import completed_results, task_text

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")
_STEP_RE = re.compile(r"^steps\.([A-Za-z0-9][A-Za-z0-9_.-]*?)\.output((?:\.[\w-]+)*)$")


class TemplateError(ValueError):
    """A placeholder names something that does not exist."""


def names_in(value: Any) -> list[str]:
    """Every placeholder name used in a (nested) value, in order."""
    if isinstance(value, str):
        return PLACEHOLDER_RE.findall(value)
    if isinstance(value, dict):
        return [n for v in value.values() for n in names_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in names_in(v)]
    return []


def step_of(name: str) -> str | None:
    """The step a `steps.NAME.output` placeholder names, else None."""
    m = _STEP_RE.match(name)
    return m.group(1) if m else None


def check_names(value: Any, step_names: set[str]) -> str | None:
    """The first problem with the placeholders of a value (at plan time), or None."""
    for name in names_in(value):
        if name in ("description", "requirements"):
            continue
        m = _STEP_RE.match(name)
        if m is None:
            return (f"unknown placeholder {{{{ {name} }}}} (use description, requirements or "
                    "steps.NAME.output)")
        if m.group(1) not in step_names:
            return f"placeholder {{{{ {name} }}}} names no step of this plan"
    return None


def _lookup(name: str, variables: dict[str, Any]) -> Any:
    if name in ("description", "requirements"):
        return variables.get(name)
    m = _STEP_RE.match(name)
    if m is None:
        raise TemplateError(f"unknown placeholder {{{{ {name} }}}}")
    outputs = variables.get("steps", {})
    if m.group(1) not in outputs:
        raise TemplateError(f"{{{{ {name} }}}}: step {m.group(1)!r} has no output (did it complete?)")
    value = outputs[m.group(1)]
    for key in filter(None, m.group(2).split(".")):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise TemplateError(f"{{{{ {name} }}}}: the output of step {m.group(1)!r} has no {key!r}")
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


def render(value: Any, variables: dict[str, Any]) -> Any:
    """`value` with every placeholder filled from `variables` (description, requirements, steps)."""
    if isinstance(value, str):
        whole = PLACEHOLDER_RE.fullmatch(value.strip())
        if whole is not None:
            return _lookup(whole.group(1), variables)
        return PLACEHOLDER_RE.sub(lambda m: _as_text(_lookup(m.group(1), variables)), value)
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    return value


def task_variables(conn: sqlite3.Connection, task_id: str, value: Any = None) -> dict[str, Any]:
    """What the templates in `value` may use: the task's description, requirements and the
    outputs of the completed steps `value` names (from their step_completed events).
    Nothing is read when `value` has no placeholder."""
    names = names_in(value)
    if not names:
        return {}
    row = task_text(conn, task_id)
    wanted = sorted({s for s in map(step_of, names) if s is not None})
    return {
        "description": row[0] if row else "",
        "requirements": json.loads(row[1] or "[]") if row else [],
        "steps": completed_results(conn, task_id, wanted),
    }
