"""Aggregates of the learning records: what `learning show` prints, `export` writes,
`import` merges, and estimates read.

An aggregate is per step class and executor: a run count, successes, and for each
figure (duration, CPU, memory, tokens, cost, gate score) how many runs had it and
their sum, so aggregates from several machines merge by adding (a mean weighted by
counts). Exports hold only these numbers and the class (kind, program/tool/model
name, type): no prompts, outputs, paths, hostnames or secrets.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent_agency_cli.errors import BadInputError, NotFoundError
from agent_agency_cli.store.learning import FIGURES, imported_rows, local_rows, origin_id, replace_imported

EXPORT_VERSION = 1
_CLASS_KEYS = ("signature", "kind", "target", "type", "executor")


def _empty(row: dict[str, Any]) -> dict[str, Any]:
    return {**{k: row.get(k) for k in _CLASS_KEYS}, "count": 0, "successes": 0,
            "n": dict.fromkeys(FIGURES, 0), "sum": dict.fromkeys(FIGURES, 0.0)}


def _add(into: dict[str, Any], other: dict[str, Any]) -> None:
    into["count"] += other["count"]
    into["successes"] += other["successes"]
    for f in FIGURES:
        into["n"][f] += other["n"].get(f, 0)
        into["sum"][f] += other["sum"].get(f, 0.0)


def local_stats(conn: sqlite3.Connection, signatures: Iterable[str] | None = None,
                kind: str | None = None) -> list[dict[str, Any]]:
    """This machine's records, aggregated per (signature, executor); only of `kind` when given."""
    sigs = tuple(set(signatures)) if signatures is not None else None
    out = []
    for r in local_rows(conn, sigs, kind):
        agg = _empty(dict(zip(_CLASS_KEYS, r[:5], strict=True)))
        agg["count"], agg["successes"] = r[5], int(r[6])
        for i, f in enumerate(FIGURES):
            agg["n"][f], agg["sum"][f] = r[7 + 2 * i], r[8 + 2 * i]
        out.append(agg)
    return out


def all_stats(conn: sqlite3.Connection, signatures: Iterable[str] | None = None,
              kind: str | None = None) -> list[dict[str, Any]]:
    """Local and imported aggregates merged per (signature, executor), with `sources`."""
    sigs = set(signatures) if signatures is not None else None
    merged: dict[tuple[str, str | None], dict[str, Any]] = {}
    for agg in local_stats(conn, sigs, kind):
        merged[(agg["signature"], agg["executor"])] = {**agg, "local": agg["count"], "imported": 0}
    for r in imported_rows(conn):
        if (sigs is not None and r[0] not in sigs) or (kind is not None and r[1] != kind):
            continue
        stats = json.loads(r[5])
        key = (r[0], r[4])
        cur = merged.get(key)
        if cur is None:
            cur = merged[key] = {**_empty(dict(zip(_CLASS_KEYS, r[:5], strict=True))), "local": 0, "imported": 0}
        _add(cur, stats)
        cur["imported"] += stats["count"]
    return sorted(merged.values(), key=lambda a: (-a["count"], a["kind"], a["target"]))


def summary(agg: dict[str, Any]) -> dict[str, Any]:
    """An aggregate as people and JSON read it: means instead of sums."""
    out = {k: agg[k] for k in _CLASS_KEYS}
    out["runs"] = agg["count"]
    out["success_rate"] = round(agg["successes"] / agg["count"], 4) if agg["count"] else None
    for f in FIGURES:
        n = agg["n"][f]
        out[f"{f}_mean"] = round(agg["sum"][f] / n, 4) if n else None
    if "local" in agg:
        out["local_runs"], out["imported_runs"] = agg["local"], agg["imported"]
    return out


def class_estimates(conn: sqlite3.Connection, signatures: Iterable[str]) -> dict[str, tuple[float, int]]:
    """{class signature: (mean duration, runs with a duration)} over every executor and source."""
    per: dict[str, list[float]] = {}
    for agg in all_stats(conn, signatures):
        n, total = agg["n"]["duration"], agg["sum"]["duration"]
        if n:
            acc = per.setdefault(agg["signature"], [0.0, 0])
            acc[0] += total
            acc[1] += n
    return {sig: (total / n, int(n)) for sig, (total, n) in per.items()}


def export_lines(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """One JSON object per (class, executor) of this machine's own records (imported
    aggregates are not re-exported, so passing files around never counts a run twice)."""
    from agent_agency_cli.security.masking import mask_secrets  # lazy: keeps start-up light

    origin = origin_id(conn)
    lines = []
    for agg in local_stats(conn):
        line = {"version": EXPORT_VERSION, "origin": origin,
                **{k: (mask_secrets(v) if isinstance(v, str) and k != "signature" else v)
                   for k, v in agg.items() if k in _CLASS_KEYS},
                "count": agg["count"], "successes": agg["successes"],
                "n": agg["n"], "mean": {f: (agg["sum"][f] / agg["n"][f] if agg["n"][f] else None)
                                        for f in FIGURES}}
        lines.append(line)
    return lines


def write_export(conn: sqlite3.Connection, out: Path) -> int:
    """Write the aggregates to `out` (JSONL, written whole or not at all); how many lines."""
    lines = export_lines(conn)
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines), encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInputError(f"cannot write {out}: {exc.strerror}") from None
    return len(lines)


def _parse_line(text: str, where: str) -> dict[str, Any]:
    try:
        d = json.loads(text)
    except ValueError:
        raise BadInputError(f"{where}: not JSON (expected one aggregate per line from `learning export`)") from None
    if not isinstance(d, dict) or d.get("version") != EXPORT_VERSION:
        raise BadInputError(f"{where}: not a learning export of version {EXPORT_VERSION}")
    try:
        count, successes = int(d["count"]), int(d["successes"])
        if count < 1 or not 0 <= successes <= count:
            raise ValueError
        stats = {"count": count, "successes": successes, "n": {}, "sum": {}}
        for f in FIGURES:
            n = int(d["n"].get(f, 0))
            mean = d["mean"].get(f)
            if not 0 <= n <= count or (n and not isinstance(mean, int | float)):
                raise ValueError
            stats["n"][f], stats["sum"][f] = n, float(mean) * n if n else 0.0
        for key in ("origin", "signature", "kind", "target"):
            if not isinstance(d[key], str) or not d[key]:
                raise ValueError
    except (KeyError, TypeError, ValueError, AttributeError):
        raise BadInputError(f"{where}: missing or bad fields (count, successes, n, mean, origin, "
                            "signature, kind, target)") from None
    return {**d, "stats": stats}


def import_file(conn: sqlite3.Connection, path: Path) -> dict[str, int]:
    """Merge another machine's export. All lines are checked before anything is written;
    importing the same origin again replaces what it sent before (no double counting)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:

        raise NotFoundError(f"file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read {path}: {exc}") from None
    entries = [_parse_line(line, f"{path}:{i}") for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    own = origin_id(conn)
    if any(e["origin"] == own for e in entries):
        raise BadInputError(f"{path} is this machine's own export (its runs are already counted)")
    replace_imported(conn, entries, time.time())
    return {"aggregates": len(entries), "runs": sum(e["stats"]["count"] for e in entries),
            "origins": len({e["origin"] for e in entries})}


def model_records(conn: sqlite3.Connection, step_types: Iterable[str | None]) -> dict[str | None, list[dict[str, Any]]]:
    """For `model: auto`, per step type: each model that ran model steps of the type (local and
    imported), its runs, success rate, mean cost, tokens and duration — best success rate, then
    cheapest, first. One pass over the aggregates for all the types."""
    wanted = set(step_types)
    per: dict[str | None, dict[str, dict[str, Any]]] = {t: {} for t in wanted}
    if not wanted:
        return {}
    for agg in all_stats(conn, kind="model"):
        if agg["type"] not in wanted or not agg["executor"]:
            continue
        models = per[agg["type"]]
        cur = models.get(agg["executor"])
        if cur is None:
            models[agg["executor"]] = cur = _empty({"executor": agg["executor"]})
        _add(cur, agg)
    out: dict[str | None, list[dict[str, Any]]] = {}
    for t, models in per.items():
        rows = [{"model": m, **{k: v for k, v in summary(a).items()
                                if k in ("runs", "success_rate", "cost_mean", "tokens_mean", "duration_mean")}}
                for m, a in models.items()]
        out[t] = sorted(rows, key=lambda r: (-(r["success_rate"] or 0.0), r["cost_mean"] or 0.0, r["model"]))
    return out


def model_record(conn: sqlite3.Connection, step_type: str | None) -> list[dict[str, Any]]:
    """model_records for one step type."""
    return model_records(conn, [step_type])[step_type]
