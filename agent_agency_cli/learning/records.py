"""What a finished step teaches: its class (kind, target, type — never its text) and figures.

A step's *class* is what similar steps share: a shell step's program name (not its
arguments), a Python step's `module:function`, a tool step's `SERVER/TOOL`, a model
step's model; plus its `type`. Its signature is a hash of that, so estimates can use
runs of similar steps, and exported aggregates carry no command text.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shlex
import time
from typing import Any

from agent_agency_cli.store.learning import mean_gate_score, record_row

_INTERPRETERS = {"python", "python3", "node", "bash", "sh", "ruby", "perl", "uv", "npx", "env"}


def _program(run: Any) -> str:
    """The program a shell step runs, by name only (no path, no arguments)."""
    try:
        argv = shlex.split(run) if isinstance(run, str) else [str(a) for a in run]
    except ValueError:
        argv = str(run).split()
    words = [w for w in argv if "=" not in w or w.startswith("-")]  # skip VAR=value prefixes
    if not words:
        return "?"
    prog = os.path.basename(words[0])
    if prog in _INTERPRETERS and len(words) > 2 and words[1] == "-m":
        return f"{prog} -m {words[2].split('.')[0]}"  # python -m pytest: the module's package
    return prog


def step_class(kind: str, spec: dict[str, Any]) -> tuple[str, str, str | None]:
    """(kind, target, type) of a step spec."""
    if kind == "shell":
        target = _program(spec.get("run") or "")
    elif kind == "python":
        target = str(spec.get("python"))
    elif kind == "tool":
        target = str(spec.get("tool"))
    elif kind == "model":
        target = str(spec.get("model"))
    else:
        target = kind
    return kind, target, spec.get("type")


@functools.lru_cache(maxsize=4096)  # every finished step asks; the classes of a home are few
def class_signature(kind: str, target: str, type_: str | None) -> str:
    return hashlib.sha1(json.dumps([kind, target, type_]).encode()).hexdigest()[:16]


def learning_row(kind: str, spec: dict[str, Any], outcome: Any, duration: float | None,
                 gate_score: float | None) -> tuple[str, tuple[Any, ...]]:
    """The statement recording one finished step (for the store's batched `also` rows)."""
    k, target, type_ = step_class(kind, spec)
    extra = outcome.extra or {}
    # Model steps report the model that answered, tokens and cost in their result (or extra).
    result = outcome.result if isinstance(outcome.result, dict) else {}
    metrics = extra.get("metrics") or {}
    usage = extra.get("usage") or {}
    tokens = extra.get("tokens") or usage.get("total_tokens")
    if tokens is None and k == "model" and (result.get("tokens_in") or result.get("tokens_out")):
        tokens = (result.get("tokens_in") or 0) + (result.get("tokens_out") or 0)
    cost = extra.get("cost", result.get("cost") if k == "model" else None)
    rss = metrics.get("rss_peak_bytes")
    executor = extra.get("model") or (result.get("model") if k == "model" else None) or (
        target.split("/")[0] if k == "tool" else None)
    return record_row(
        (class_signature(k, target, type_), k, target, type_, executor, int(bool(outcome.ok)), duration,
         metrics.get("cpu_percent_mean"), rss / 2**20 if rss else None,
         tokens, cost, gate_score, time.time()),
    )


def finished_step_row(conn: Any, task_id: str, step: str, attempt: int, kind: str, spec: dict[str, Any],
                      outcome: Any, duration: float | None, gated: bool) -> tuple[str, tuple[Any, ...]]:
    """The learning record of a step that just finished, with its attempt's mean gate score
    (looked up only when the step has gates)."""
    score = mean_gate_score(conn, task_id, step, attempt) if gated else None
    return learning_row(kind, spec, outcome, duration, score)
