"""Circuit breakers per executor target, persisted in SQLite and shared by every process.

A breaker is one row of the `breakers` table. Every read-modify-write runs in a
`BEGIN IMMEDIATE` transaction, so engines in several processes (or a restarted
daemon) see and update the same state without losing a failure.

State machine (times are the `now` the caller passes):

    closed     --failure, >= failure_threshold failures within `window`-->  open
    open       --check() once recovery_timeout has passed since opened_at-->  half_open (a trial)
    half_open  --check() while a trial runs (< recovery_timeout old)-->  rejected
    half_open  --check() with no trial running (or a stale one)-->  a new trial
    half_open  --success, successes >= success_threshold-->  closed (failures cleared)
    half_open  --success, below success_threshold-->  half_open (the next check may trial)
    half_open  --failure-->  open (opened_at = now)
    open       --record()-->  open (a late result of a call started before it opened)
    any        --reset()-->  closed
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from agent_agency_cli.config import BreakerSettings
from agent_agency_cli.store.db import write_tx
from agent_agency_cli.timeutil import iso
from agent_agency_cli.units import describe_duration

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
STATES = (CLOSED, OPEN, HALF_OPEN)

RESET_HINT = "agent-agency-cli breakers reset"

_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"})
# Wrappers that only run their argument: the breaker is about what they run.
_WRAPPERS = frozenset({"env", "exec", "nohup", "time", "command", "nice", "stdbuf", "timeout", "sudo"})


@dataclass(frozen=True)
class Decision:
    """Whether a call to a target may go ahead now."""

    allowed: bool
    state: str
    reason: str | None = None
    trial: bool = False  # this call is the half-open trial: record() its outcome
    retry_at: float | None = None  # when a rejected call may be tried again (epoch seconds)


@dataclass
class _Row:
    name: str
    state: str = CLOSED
    failures: list[float] | None = None
    successes: int = 0
    opened_at: float | None = None
    trial_started_at: float | None = None
    updated_at: float | None = None

    @classmethod
    def load(cls, conn: sqlite3.Connection, name: str) -> _Row | None:
        r = conn.execute(
            "SELECT name, state, failures, successes, opened_at, trial_started_at, updated_at"
            " FROM breakers WHERE name = ?",
            (name,),
        ).fetchone()
        if r is None:
            return None
        try:
            failures = [float(t) for t in json.loads(r[2] or "[]")]
        except (ValueError, TypeError):
            failures = []
        state = r[1] if r[1] in STATES else CLOSED
        return cls(r[0], state, failures, int(r[3] or 0), r[4], r[5], r[6])

    def save(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute(
            "INSERT INTO breakers (name, state, failures, successes, opened_at, trial_started_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET state = excluded.state, failures = excluded.failures,"
            " successes = excluded.successes, opened_at = excluded.opened_at,"
            " trial_started_at = excluded.trial_started_at, updated_at = excluded.updated_at",
            (self.name, self.state, json.dumps(self.failures or []), self.successes, self.opened_at,
             self.trial_started_at, now),
        )


def clock(ts: float) -> str:
    """Local wall-clock time of day, as shown in reasons: 12:01:30."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def _in_window(failures: Sequence[float], now: float, window: float) -> list[float]:
    return [t for t in failures if now - t < window]


class BreakerStore:
    """Circuit breakers on one connection from agent_agency_cli.store.db.connect (autocommit)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return write_tx(self.conn)

    # -- the two calls the engine makes around every step ------------------------

    def check(self, name: str, settings: BreakerSettings, now: float) -> Decision:
        """May a call to `name` go ahead now? An open breaker past its cool-down lets one trial through."""
        if not settings.enabled:
            return Decision(True, CLOSED)
        # Fast path without the write lock: the common case is no row or a closed breaker.
        row = _Row.load(self.conn, name)
        if row is None or row.state == CLOSED:
            return Decision(True, CLOSED)
        with self._tx() as conn:
            row = _Row.load(conn, name)
            if row is None or row.state == CLOSED:
                return Decision(True, CLOSED)
            timeout = settings.recovery_timeout
            if row.state == OPEN:
                opened_at = row.opened_at if row.opened_at is not None else now
                retry_at = opened_at + timeout
                if now < retry_at:
                    n = len(_in_window(row.failures or [], opened_at + 1e-9, settings.window))
                    if n >= settings.failure_threshold:
                        why = f"after {n} failure{'s' if n != 1 else ''} in {describe_duration(settings.window)}"
                    else:  # re-opened by a failed half-open trial
                        why = f"after its trial call failed at {clock(opened_at)}"
                    reason = (
                        f"circuit {name!r} is open {why}; retry after {clock(retry_at)}"
                        f" (or `{RESET_HINT} {name}`)"
                    )
                    return Decision(False, OPEN, reason, False, retry_at)
                row.state, row.successes, row.trial_started_at = HALF_OPEN, 0, now
                row.save(conn, now)
                return Decision(True, HALF_OPEN, None, True)
            # half_open
            started = row.trial_started_at
            if started is not None and now - started < timeout:
                retry_at = started + timeout
                reason = (
                    f"circuit {name!r} is half-open and a trial call is in progress; retry after "
                    f"{clock(retry_at)} (or `{RESET_HINT} {name}`)"
                )
                return Decision(False, HALF_OPEN, reason, False, retry_at)
            # No trial running, or its caller died without recording: start another one.
            row.trial_started_at = now
            row.save(conn, now)
            return Decision(True, HALF_OPEN, None, True)

    def record(self, name: str, settings: BreakerSettings, ok: bool, now: float, *, trial: bool | None = None) -> str:
        """Record the outcome of a call to `name`; returns the breaker's new state.

        `trial`: whether this call was let through by check() as the half-open trial. Pass
        False for a call that started before the breaker opened, so its late result does not
        decide the trial (a failure is still counted). None (the default) = any result decides.
        """
        if not settings.enabled:
            return CLOSED
        if ok:
            row = _Row.load(self.conn, name)
            if row is None:  # a success on a never-failed target: nothing to write
                return CLOSED
        with self._tx() as conn:
            row = _Row.load(conn, name) or _Row(name, failures=[])
            failures = _in_window(row.failures or [], now, settings.window)
            if row.state == CLOSED:
                if not ok:
                    failures.append(now)
                    if len(failures) >= settings.failure_threshold:
                        row.state, row.opened_at, row.successes, row.trial_started_at = OPEN, now, 0, None
                elif failures == (row.failures or []):
                    return CLOSED  # nothing changed
            elif row.state == HALF_OPEN and trial is False:
                if not ok:
                    failures.append(now)
            elif row.state == HALF_OPEN:
                if ok:
                    row.successes += 1
                    row.trial_started_at = None
                    if row.successes >= settings.success_threshold:
                        row.state, row.successes, row.opened_at = CLOSED, 0, None
                        failures = []
                else:
                    failures.append(now)
                    row.state, row.opened_at, row.successes, row.trial_started_at = OPEN, now, 0, None
            else:  # open: a call that started before it opened; stays open
                if not ok:
                    failures.append(now)
            row.failures = failures
            row.save(conn, now)
            return row.state

    def release_trial(self, name: str, now: float) -> bool:
        """A trial call ended without an outcome (cancelled, engine stopping): let the next
        check() start a new trial at once. False if no trial was in progress."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE breakers SET trial_started_at = NULL, updated_at = ?"
                " WHERE name = ? AND state = ? AND trial_started_at IS NOT NULL",
                (now, name, HALF_OPEN),
            )
            return cur.rowcount > 0

    # -- inspection and manual control --------------------------------------------

    def get(
        self, name: str, settings: BreakerSettings | None = None, now: float | None = None
    ) -> dict[str, Any] | None:
        """One breaker as a dict (see list()), or None if it was never used."""
        row = _Row.load(self.conn, name)
        if row is None:
            return None
        return self._describe(row, settings or BreakerSettings(), time.time() if now is None else now)

    def list(self, settings: BreakerSettings | None = None, now: float | None = None) -> list[dict[str, Any]]:
        """Every breaker, by name: name, state, failures (within the window), successes,
        opened_at and retry_at (UTC ISO-8601 or None), trial_in_progress, updated_at."""
        settings = settings or BreakerSettings()
        now = time.time() if now is None else now
        names = [r[0] for r in self.conn.execute("SELECT name FROM breakers ORDER BY name")]
        out = []
        for name in names:
            row = _Row.load(self.conn, name)
            if row is not None:
                out.append(self._describe(row, settings, now))
        return out

    def reset(self, name: str, now: float | None = None) -> bool:
        """Close a breaker by hand and forget its failures; False if there is no such breaker."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE breakers SET state = ?, failures = '[]', successes = 0, opened_at = NULL,"
                " trial_started_at = NULL, updated_at = ? WHERE name = ?",
                (CLOSED, now, name),
            )
            return cur.rowcount > 0

    def _describe(self, row: _Row, settings: BreakerSettings, now: float) -> dict[str, Any]:
        timeout = settings.recovery_timeout
        retry_at: float | None = None
        trial = False
        if row.state == OPEN and row.opened_at is not None:
            retry_at = row.opened_at + timeout
        elif row.state == HALF_OPEN and row.trial_started_at is not None and now - row.trial_started_at < timeout:
            trial = True
            retry_at = row.trial_started_at + timeout
        return {
            "name": row.name,
            "state": row.state,
            "failures": len(_in_window(row.failures or [], now, settings.window)),
            "successes": row.successes,
            "opened_at": iso(row.opened_at),
            "retry_at": iso(retry_at),
            "trial_in_progress": trial,
            "updated_at": iso(row.updated_at),
        }


# Set-up words a script often starts with; the breaker is about the command after them.
_SETUP = frozenset({"cd", "set", "export", "umask", "source", ".", "true", ":", "unset", "ulimit", "pushd", "popd"})
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "|&", ";;"})


def _script_command(script: str, depth: int = 0) -> str | None:
    """The program a shell script is about: `set -e; cd x && curl -fsS y | jq .` -> curl."""
    lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        tokens = script.split()
    commands: list[list[str]] = [[]]
    for tok in tokens:
        if set(tok) <= set(";&|"):
            commands.append([])
        else:
            commands[-1].append(tok)
    programs = [p for p in (_command_program(c, depth) for c in commands if c) if p]
    for prog in programs:
        if prog not in _SETUP:
            return prog
    return programs[0] if programs else None


def _command_program(argv: Sequence[str], depth: int = 0) -> str | None:
    """The program of one simple command; a shell's `-c` script is looked into."""
    prog = _first_program(argv)
    if prog in _SHELLS and depth < 3:
        at = next((i for i, w in enumerate(argv) if _basename(w) == prog), len(argv))
        script = _shell_script(argv[at + 1:])
        if script is not None:
            return _script_command(script, depth + 1) or prog
    return prog


def _basename(word: str) -> str:
    word = word.strip().strip("(){}").strip()
    return os.path.basename(word.rstrip("/")) or word


def _first_program(words: Sequence[str]) -> str | None:
    """The program a simple command runs: skips `VAR=value` and wrappers like `env`, `timeout 5`."""
    i = 0
    while i < len(words):
        word = words[i].strip().strip("(){}").strip()
        i += 1
        if not word:
            continue
        if "=" in word and word.split("=", 1)[0].isidentifier():
            continue  # FOO=bar cmd
        base = _basename(word)
        if base in _WRAPPERS:
            # the wrapper's own options: `timeout 5 cmd`, `nice -n 5 cmd`, `env -i cmd`
            while i < len(words) and (words[i].startswith("-") or words[i].replace(".", "", 1).isdigit()):
                i += 1
            continue
        return base
    return None


def _shell_script(args: Sequence[str]) -> str | None:
    """The -c script among a shell's arguments (`-c '…'`, `-eu -c '…'`, `-ec '…'`, `-o pipefail -c '…'`)."""
    i = 0
    while i < len(args):
        word = args[i]
        if word in ("-o", "+o"):
            i += 2
            continue
        if word.startswith("--") or word.startswith("+"):
            i += 1
            continue
        if not word.startswith("-") or word == "-":
            return None
        if "c" in word[1:]:
            return args[i + 1] if i + 1 < len(args) else None
        i += 1
    return None


def breaker_name(kind: str, target: str | Sequence[str]) -> str:
    """The breaker a step's calls count against.

    shell: the command's binary basename (`make -j2` -> make, `/usr/bin/python3 x.py` ->
    python3); for `sh -c "script"` the script's first program (`curl …` -> curl), skipping
    set-up commands like `cd dir &&` and `set -e;`. python: the module of `module:function`.
    Anything else (an LLM model, an MCP server): the target itself.
    """
    text = target if isinstance(target, str) else " ".join(target)
    if kind == "python":
        return text.strip().split(":", 1)[0].strip() or text.strip()
    if kind != "shell":
        return text.strip()
    # A string is what /bin/sh would run (a plain command is a one-command script).
    prog = _script_command(target) if isinstance(target, str) else _command_program(list(target))
    return prog or "sh"
