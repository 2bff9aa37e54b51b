"""`agent-agency-cli schema [status|result|list|metrics|event|plan|config]`: the JSON Schema of an output.

The schemas come from the shared response models (`responses.py`, `event_payloads.py`), the plan
file model and the settings model, so what this prints is what `--json`, the HTTP API and the
config loader use. pydantic is imported only here, inside the command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from agent_agency_cli.cli.common import fail, handle_errors, print_json


def _status() -> dict[str, Any]:
    from agent_agency_cli.responses import TaskView  # lazy: keeps start-up light

    return TaskView.model_json_schema()


def _result() -> dict[str, Any]:
    from agent_agency_cli.responses import ResultView  # lazy: keeps start-up light

    return ResultView.model_json_schema()


def _metrics() -> dict[str, Any]:
    from agent_agency_cli.responses import MetricsView  # lazy: keeps start-up light

    return MetricsView.model_json_schema()


def _list() -> dict[str, Any]:
    from pydantic import TypeAdapter  # lazy: keeps start-up light

    from agent_agency_cli.responses import TaskSummary  # lazy: keeps start-up light

    return TypeAdapter(list[TaskSummary]).json_schema()


def _event() -> dict[str, Any]:
    from agent_agency_cli.event_payloads import event_schema  # lazy: keeps start-up light

    return event_schema()


def _plan() -> dict[str, Any]:
    from agent_agency_cli.planning.plan_file import Plan  # lazy: keeps start-up light

    return Plan.model_json_schema()


def _config() -> dict[str, Any]:
    from agent_agency_cli.config import Settings  # lazy: keeps start-up light

    return Settings.model_json_schema()


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "status": _status, "result": _result, "list": _list, "metrics": _metrics, "event": _event, "plan": _plan,
    "config": _config,
}


@handle_errors
def schema(
    what: Annotated[str, typer.Argument(metavar="WHAT", help="One of: " + ", ".join(SCHEMAS) + ".")],
) -> None:
    """Print the JSON Schema of `task status|result|list|metrics --json`, of an event, a plan file or the config."""
    make = SCHEMAS.get(what)
    if make is None:
        raise fail(f"unknown schema {what!r}: choose one of {', '.join(SCHEMAS)}", 2)
    print_json({"$schema": "https://json-schema.org/draft/2020-12/schema", **make()})


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)
