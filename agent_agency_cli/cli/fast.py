"""The fast path: `task status|list|events|pause|resume|cancel|create` without the Typer app.

Typer (and, through its parameter coercion, pydantic) costs several times what the
command itself does. This module recognises the plain argv shapes of those commands —
global `--home`/`--config` first, then the command, its options and its id — and runs
the same bodies as the Typer commands (cli/task_actions.py) with the same error line
and exit code; `task create` when it only submits (no --wait, no --foreground).
Anything else (help, a typo, an option it does not know, a value that looks like an
option, a missing id) returns None and the caller falls back to Typer, which then
prints its own usage error or help: only shapes whose handling is identical on both
paths are taken here (tests/integration/test_cli_fast.py runs each shape both ways).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

from agent_agency_cli.errors import EXIT_INTERRUPTED, AgencyError
from agent_agency_cli.paths import CONFIG_ENV, HOME_ENV

_GLOBAL = {"--home": "home", "--config": "config", "-c": "config"}


class _Spec:
    """One command's options: flags, options with a value, whether it takes an id."""

    def __init__(self, run: Callable[..., int | None], *, flags: dict[str, str] | None = None,
                 values: dict[str, str] | None = None, repeat: frozenset[str] = frozenset(),
                 takes_id: bool = True):
        self.run = run
        self.flags = flags or {}
        self.values = values or {}
        self.repeat = repeat
        self.takes_id = takes_id


def _status(opts: dict[str, Any]) -> None:
    from agent_agency_cli.cli import task_actions  # lazy: keeps start-up light

    limit, offset = opts.get("limit"), opts.get("offset")
    task_actions.show_status(opts["task_id"], opts.get("verbose", False), opts.get("as_json", False),
                             opts.get("no_start", False), steps=opts.get("steps", False),
                             summary=opts.get("summary", False), limit=None if limit is None else int(limit),
                             offset=None if offset is None else int(offset))


def _list(opts: dict[str, Any]) -> None:
    from agent_agency_cli.cli import task_actions  # lazy: keeps start-up light

    task_actions.show_list(opts.get("status"), int(opts.get("limit", task_actions.DEFAULT_LIST_LIMIT)),
                           opts.get("as_json", False), opts.get("search"), opts.get("no_start", False))


def _events(opts: dict[str, Any]) -> None:
    from agent_agency_cli.cli import task_actions  # lazy: keeps start-up light

    task_actions.show_events(opts["task_id"], False, int(opts.get("after", 0)), opts.get("as_json", False))


def _create(opts: dict[str, Any]) -> int:
    from agent_agency_cli.cli import daemon_submit, task_actions  # lazy: keeps start-up light
    from agent_agency_cli.cli.common import state  # lazy: keeps start-up light

    plans: list[str] = opts.get("plan") or []
    batch = task_actions.is_batch(plans)
    if batch:
        plans = task_actions.expand_plans(plans)
    ids = daemon_submit.request_ids(len(plans))
    # A running daemon submits it with everything loaded; else (or when it declines) here.
    code = daemon_submit.try_daemon(opts, plans, ids, state.home, state.config, batch)
    if code is not None:
        return code
    concurrency = opts.get("concurrency")
    options = dict(
        description=opts.get("description"), mode=opts.get("mode"),
        priority=opts.get("priority", task_actions.DEFAULT_PRIORITY), requirements=opts.get("requirements"),
        deadline=opts.get("deadline"), stakeholders=opts.get("stakeholders"), workdir=opts.get("workdir"),
        concurrency=None if concurrency is None else int(concurrency), complexity=opts.get("complexity"),
        no_start=opts.get("no_start", False), as_json=opts.get("as_json", False),
    )
    if batch:
        return task_actions.submit_batch(plans=plans, request_ids=ids, **options)  # type: ignore[arg-type]
    task_actions.submit(plan=plans[0] if plans else None, foreground=False, wait=False,
                        request_id=ids[0] if ids else None, **options)  # type: ignore[arg-type]
    return 0


def _control(name: str) -> Callable[[dict[str, Any]], None]:
    def run(opts: dict[str, Any]) -> None:
        from agent_agency_cli.cli import task_actions  # lazy: keeps start-up light

        as_json = opts.get("as_json", False)
        if name == "cancel":
            task_actions.cancel(opts["task_id"], opts.get("reason", task_actions.DEFAULT_CANCEL_REASON), as_json)
        else:
            getattr(task_actions, name)(opts["task_id"], as_json)

    return run


_COMMANDS = {
    "status": _Spec(_status, flags={"--verbose": "verbose", "-v": "verbose", "--json": "as_json",
                                    "--no-start": "no_start", "--steps": "steps", "--summary": "summary"},
                    values={"--limit": "limit", "--offset": "offset"}),
    "list": _Spec(_list, flags={"--json": "as_json", "--no-start": "no_start"},
                  values={"--status": "status", "-s": "status", "--limit": "limit", "--search": "search",
                          "-q": "search"},
                  repeat=frozenset({"status"}), takes_id=False),
    # --follow polls until the task ends: Typer's (not listed, so it falls back).
    "events": _Spec(_events, flags={"--json": "as_json"}, values={"--after": "after"}),
    "pause": _Spec(_control("pause"), flags={"--json": "as_json"}),
    "resume": _Spec(_control("resume"), flags={"--json": "as_json"}),
    "cancel": _Spec(_control("cancel"), flags={"--json": "as_json"}, values={"--reason": "reason", "-r": "reason"}),
    # --wait and --foreground follow the task: Typer's (they are not listed, so they fall back).
    "create": _Spec(_create, flags={"--no-start": "no_start", "--json": "as_json"}, values={
        "--plan": "plan", "-p": "plan", "--description": "description", "-d": "description",
        "--mode": "mode", "--priority": "priority", "--requirements": "requirements",
        "--deadline": "deadline", "--stakeholders": "stakeholders", "--workdir": "workdir",
        "--concurrency": "concurrency",
        "--complexity": "complexity"}, repeat=frozenset({"plan"}), takes_id=False),
}

# Values Typer would convert exactly like int() does; anything else is Typer's to judge.
_INT = re.compile(r"0|[1-9][0-9]{0,8}")


def parse(argv: list[str]) -> tuple[_Spec, dict[str, Any], dict[str, str | None]] | None:
    """(command, its options, global options) for a shape the fast path serves, else None."""
    glob: dict[str, str | None] = {}
    i = 0
    while i < len(argv) and argv[i] != "task":
        got = _option(argv, i, _GLOBAL)
        if got is None:
            return None
        key, value, i = got
        glob[key] = value
    if i + 1 >= len(argv) or argv[i + 1] not in _COMMANDS:
        return None
    spec = _COMMANDS[argv[i + 1]]
    opts: dict[str, Any] = {}
    i += 2
    while i < len(argv):
        token = argv[i]
        if token in spec.flags:
            opts[spec.flags[token]] = True
            i += 1
            continue
        if token.startswith("-"):
            got = _option(argv, i, spec.values)
            if got is None:
                return None
            key, value, i = got
            if key in spec.repeat:
                opts.setdefault(key, []).append(value)
            else:
                opts[key] = value
            continue
        if not spec.takes_id or "task_id" in opts:
            return None  # an extra argument: Typer's usage error
        opts["task_id"] = token
        i += 1
    if spec.takes_id and "task_id" not in opts:
        return None
    if any(key in opts and not _INT.fullmatch(opts[key]) for key in ("limit", "offset", "after", "concurrency")):
        return None
    return spec, opts, glob


def _option(argv: list[str], i: int, names: dict[str, str]) -> tuple[str, str, int] | None:
    """An option with a value at argv[i] (`--name value`, `--name=value`, `-x value`)."""
    token = argv[i]
    name, eq, value = token.partition("=")
    if eq and name.startswith("--") and name in names:
        return names[name], value, i + 1
    if token in names and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
        return names[token], argv[i + 1], i + 2
    return None


def run(argv: list[str]) -> int | None:
    """Run argv on the fast path and return its exit code; None when Typer must take it."""
    parsed = parse(argv)
    if parsed is None:
        return None
    spec, opts, glob = parsed
    from agent_agency_cli.cli.common import print_error, quiet_broken_pipe, state  # lazy: keeps start-up light

    # What the Typer callback stores: the option, else its environment variable.
    state.home = glob["home"] if "home" in glob else os.environ.get(HOME_ENV) or None
    state.config = glob["config"] if "config" in glob else os.environ.get(CONFIG_ENV) or None
    if state.config is not None and not os.path.isfile(state.config):
        # As the Typer callback (cli/main.py): a typo must not fall back to the defaults.
        source = "$AGENT_AGENCY_CONFIG" if state.config == os.environ.get(CONFIG_ENV) else "--config"
        print_error(f"config file {state.config} not found (given by {source}); give an existing file or "
                    "leave it out for config.yaml in the data home")
        return 2
    try:
        code = spec.run(opts)
    except AgencyError as exc:
        print_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        print_error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        quiet_broken_pipe()
        return 0
    return code or 0


def main() -> None:
    """The console script: the fast path when it applies, else the full Typer app."""
    code = run(sys.argv[1:])
    if code is None:
        from agent_agency_cli.cli.main import app  # lazy: keeps start-up light

        app(prog_name="agent-agency-cli")
        return
    sys.exit(code)
