"""Archiving finished tasks: pack workspace and logs (archive_files.py holds the file
format), keep the metadata in SQLite; the retention purge."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from agent_agency_cli.archive_files import archive_path_for, archive_task_files, describe_archive, restore_task_files
from agent_agency_cli.archive_purge import select_for_purge
from agent_agency_cli.errors import AgencyError, ConflictError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import TaskStatus
from agent_agency_cli.paths import HomePaths
from agent_agency_cli.store import Store

log = logging.getLogger(__name__)


def archive_dir(paths: HomePaths) -> Any:
    return paths.home / "archive"


def archive_task(store: Store, paths: HomePaths, task_id: str,
                 metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pack a finished task's directory into archive/<id>.tar.gz and record it."""
    task = store.get_task(task_id)
    status = TaskStatus(task["status"])
    if not status.is_terminal:
        raise ConflictError(f"task {task_id} is {status}; only finished tasks can be archived")
    if task["archived_at"]:
        raise ConflictError(f"task {task_id} is already archived ({task['archive_path']})")
    if metadata is None:
        metadata = {"task": {k: task[k] for k in task.keys()},
                    "steps": [dict(r) for r in store.get_steps(task_id)]}
    metadata = store.redact(task_id, metadata)
    if store.vault is not None:
        store.vault.discard(task_id)  # archived: it never runs again, its secrets go
    task_dir = paths.task_dir(task_id)
    packed = archive_path_for(archive_dir(paths), task_id)
    if not task_dir.exists() and packed.exists():
        # Packed (its directory removed) by an earlier sweep whose database record failed:
        # record that archive; packing the missing directory would replace it by an empty one.
        info = describe_archive(packed)
    else:
        if not task_dir.exists():
            task_dir.mkdir(parents=True)  # a task that never ran still gets an (empty) archive
        info = archive_task_files(task_dir, archive_dir(paths), task_id, json.loads(json.dumps(metadata,
                                                                                              default=str)))
    store.update_task_fields(task_id, event=EventKind.TASK_ARCHIVED,
                             payload={"path": str(info.path), "size": info.size, "sha256": info.sha256,
                                      "files": len(info.files)},
                             archive_path=str(info.path), archived_at=time.time())
    return {"path": str(info.path), "size": info.size, "sha256": info.sha256, "files": len(info.files)}


def restore_task(store: Store, paths: HomePaths, task_id: str) -> dict[str, Any]:
    """Unpack an archived task back under tasks/<id>/ (the archive itself is kept)."""
    task = store.get_task(task_id)
    if not task["archived_at"] or not task["archive_path"]:
        raise ConflictError(f"task {task_id} is not archived")
    files = restore_task_files(Path(task["archive_path"]), paths.task_dir(task_id))
    store.update_task_fields(task_id, event=EventKind.TASK_RESTORED,
                             payload={"path": task["archive_path"], "files": len(files)},
                             archived_at=None)
    return {"path": task["archive_path"], "files": len(files), "task_dir": str(paths.task_dir(task_id))}


def purge(store: Store, paths: HomePaths, older_than: float, now: float | None = None
          ) -> tuple[list[str], list[str]]:
    """Archive every finished task older than `older_than` seconds: (archived, errors)."""
    now = time.time() if now is None else now
    if older_than <= 0:
        return [], []
    # Only the candidates past the cut-off are read (index tasks_to_archive), not every finished task.
    rows = store.finished_unarchived(before=now - older_than)
    done, errors = [], []
    for tid in select_for_purge(rows, older_than, now):
        try:
            archive_task(store, paths, tid)
            done.append(tid)
        except AgencyError as exc:
            log.warning("not archiving %s: %s", tid, exc)
            errors.append(f"{tid}: {exc}")
    return done, errors


def sweep(store: Store, paths: HomePaths, archive_retention: float, metrics_retention: float,
          now: float | None = None) -> dict[str, Any]:
    """The daemon's periodic clean-up (0 turns either part off):

    - archive finished tasks older than `archive_retention` seconds (see purge);
    - drop the metric samples and events of archived tasks that finished more than
      `metrics_retention` seconds ago (see store.retention).
    """
    from agent_agency_cli.store.retention import prune_archived_history  # lazy: keeps start-up light

    now = time.time() if now is None else now
    archived: list[str] = []
    errors: list[str] = []
    if archive_retention > 0:
        archived, errors = purge(store, paths, archive_retention, now)
    pruned = prune_archived_history(store, now - metrics_retention) if metrics_retention > 0 else None
    return {"archived": archived, "errors": errors,
            "pruned_tasks": pruned.tasks if pruned else 0,
            "pruned_metric_samples": pruned.metric_samples if pruned else 0,
            "pruned_events": pruned.events if pruned else 0}
