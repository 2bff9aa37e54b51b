"""A task's events as ready JSON lines (`task events --json`), without decoding what need not be.

Decoding every payload (json.loads, then public_payload, then encoding it again) was most of
`task events --json`'s work on a task of 10,000 events. The store writes payloads as compact
JSON (store/base.py `dumps`), which is what the line holds; only a payload that names an
internal or time field must be rewritten (public_payload), and a look for those keys in the
stored text finds every such payload: a key is always `"name":` in compact JSON, while the
same words inside a string value are escaped (`\\"name\\":`) and never match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from agent_agency_cli.event_kinds import INTERNAL_FIELDS, TIME_FIELDS, public_payload
from agent_agency_cli.timeutil import iso

PAGE = 5000
_REWRITTEN = re.compile('"(?:' + "|".join(sorted(map(re.escape, INTERNAL_FIELDS | TIME_FIELDS))) + ')":')
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def event_line(row: Any) -> str:
    """One events row as the compact JSON object of `task events --json` (views.event_json's shape)."""
    raw = row["payload"]
    payload = _encode(public_payload(json.loads(raw))) if _REWRITTEN.search(raw) else raw
    return (f'{{"id":{row["id"]},"task_id":{_encode(row["task_id"])},"step":{_encode(row["step"])},'
            f'"kind":{_encode(row["kind"])},"ts":{_encode(iso(row["ts"]))},"payload":{payload}}}')


def event_lines(store: Any, task_id: str, after: int = 0) -> Iterator[str]:
    """Every event of the task after id `after`, in id order, read page by page."""
    while True:
        rows = store.events_after(task_id, after, PAGE)
        for row in rows:
            yield event_line(row)
        if len(rows) < PAGE:
            return
        after = rows[-1]["id"]
