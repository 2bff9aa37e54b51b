"""Prompt templates: `{{ description }}`, `{{ requirements }}`, `{{ steps.NAME.output }}`.

Deliberately tiny and safe (no expressions, no attribute access, no Jinja): a
placeholder is one of those three forms or it is an error naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
STEP_REF = re.compile(r"^steps\.([A-Za-z0-9][A-Za-z0-9_.-]*)\.output$")
VARIABLES = ("description", "requirements")


class TemplateError(ValueError):
    """A placeholder that is not one of the known forms, or names no earlier step."""


def step_refs(template: str) -> list[str]:
    """The step names a template reads (`{{ steps.NAME.output }}`), in order; TemplateError
    for a placeholder that is not a known form."""
    refs: list[str] = []
    for m in PLACEHOLDER.finditer(template):
        expr = m.group(1)
        if expr in VARIABLES:
            continue
        ref = STEP_REF.match(expr)
        if ref is None:
            raise TemplateError(
                f"unknown placeholder {{{{ {expr} }}}} (use {{{{ description }}}}, {{{{ requirements }}}} "
                "or {{ steps.NAME.output }})")
        if ref.group(1) not in refs:
            refs.append(ref.group(1))
    return refs


def render(template: str, *, description: str, requirements: list[str],
           step_output: Callable[[str], str | None]) -> str:
    """Fill the placeholders; TemplateError when a referenced step has no output."""
    step_refs(template)  # validates every placeholder first

    def sub(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr == "description":
            return description
        if expr == "requirements":
            return ", ".join(requirements)
        name = STEP_REF.match(expr).group(1)  # type: ignore[union-attr]
        out = step_output(name)
        if out is None:
            raise TemplateError(f"step {name!r} has no output for {{{{ steps.{name}.output }}}}")
        return out

    return PLACEHOLDER.sub(sub, template)
