"""The built-in `workspace` tools an agent step may call: read, write and list files in
its working directory, and run a command there.

Paths are confined to the root (the task's workspace or --workdir): no absolute paths,
no `..`, and no symlink that leads outside (checked on the resolved path). A command
goes through the same security scanner as a plan's shell step (a critical finding is
refused with the reason), runs as a shell step does (its own process group, the step's
limits, its output in the step log), and its exit code and output tail come back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_agency_cli.executors.base import StepLog

if TYPE_CHECKING:
    from agent_agency_cli.executors.registry import AttemptContext
    from agent_agency_cli.executors.shell import ShellHandle

MAX_READ = 64_000  # characters of a file returned to the model
MAX_OUTPUT = 8_000  # characters of a command's output returned to the model
MAX_LIST = 500  # entries of a listing


class ToolRefused(Exception):
    """A call the governance refuses (path escape, critical command): the model is told why."""


# name -> (description, JSON Schema of the arguments, read-only)
TOOLS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "read_file": ("Read a text file of the workspace.", {
        "type": "object", "properties": {"path": {"type": "string", "description": "relative to the workspace"}},
        "required": ["path"]}, True),
    "write_file": ("Write (create or replace) a text file of the workspace.", {
        "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"]}, False),
    "list_files": ("List the files under a directory of the workspace (recursively).", {
        "type": "object", "properties": {"path": {"type": "string", "default": "."}}}, True),
    "run_command": ("Run a shell command in the workspace; returns its exit code and output.", {
        "type": "object", "properties": {"command": {"type": "string"},
                                         "timeout": {"type": "number", "description": "seconds"}},
        "required": ["command"]}, False),
}


def confine(root: Path, rel: Any) -> Path:
    """`rel` inside `root`, resolved; ToolRefused for an absolute path, `..` or a symlink escape."""
    if not isinstance(rel, str) or not rel.strip():
        raise ToolRefused("path must be a non-empty relative path")
    p = Path(rel)
    if p.is_absolute():
        raise ToolRefused(f"path {rel!r} is absolute; use a path relative to the workspace")
    if ".." in p.parts:
        raise ToolRefused(f"path {rel!r} leaves the workspace ('..' is not allowed)")
    base = root.resolve()
    target = (base / p).resolve()
    if target != base and base not in target.parents:
        raise ToolRefused(f"path {rel!r} leads outside the workspace (through a symlink)")
    return target


class _TeeLog(StepLog):
    """The step log, also keeping what a command printed (for the model)."""

    def __init__(self, log: StepLog):
        super().__init__(log.path, mask=log.mask)
        self._inner = log
        self.text: list[str] = []

    def line(self, stream: str, text: str) -> None:
        self._inner.line(stream, text)
        if stream in ("out", "err"):
            self.text.append(text + "\n")

    def feed(self, stream: str, chunk: str) -> None:
        self._inner.feed(stream, chunk)
        self.text.append(chunk)

    def close(self, keep: bool = True) -> None:
        pass  # the step's own log is closed by the engine


class Workspace:
    """The workspace tools of one agent attempt."""

    def __init__(self, ctx: AttemptContext):
        self.ctx = ctx
        self.root = (ctx.workdir or ctx.workspace)
        self.command: ShellHandle | None = None  # the running command (paused and stopped with the step)

    @staticmethod
    def read_only(name: str) -> bool:
        return name in TOOLS and TOOLS[name][2]

    async def call(self, name: str, args: dict[str, Any]) -> str:
        """Run one tool; its result as text. ToolRefused when governance refuses it."""
        if name == "read_file":
            path = confine(self.root, args.get("path"))
            if not path.is_file():
                raise ToolRefused(f"no file {args.get('path')!r} in the workspace")
            text = path.read_text(encoding="utf-8", errors="replace")
            return text if len(text) <= MAX_READ else text[:MAX_READ] + f"\n… ({len(text)} characters in all)"
        if name == "write_file":
            path = confine(self.root, args.get("path"))
            content = args.get("content")
            if not isinstance(content, str):
                raise ToolRefused("content must be text")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            return f"wrote {len(content.encode())} bytes to {args['path']}"
        if name == "list_files":
            path = confine(self.root, args.get("path") or ".")
            if not path.is_dir():
                raise ToolRefused(f"no directory {args.get('path')!r} in the workspace")
            base = self.root.resolve()
            entries = []
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if d != ".git")
                for f in sorted(filenames):
                    entries.append(str((Path(dirpath) / f).relative_to(base)))
                    if len(entries) >= MAX_LIST:
                        return "\n".join(entries) + f"\n… (first {MAX_LIST})"
            return "\n".join(entries) or "(empty)"
        if name == "run_command":
            return await self._run(args)
        raise ToolRefused(f"unknown workspace tool {name!r} (read_file, write_file, list_files, run_command)")

    async def _run(self, args: dict[str, Any]) -> str:
        import anyio  # lazy: keeps start-up light

        from agent_agency_cli.executors.shell import ShellHandle, command_argv  # lazy: keeps start-up light
        from agent_agency_cli.security.scanner import scan_text  # lazy: keeps start-up light

        command = args.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolRefused("command must be a non-empty shell command")
        critical = [f for f in scan_text(command, "run_command") if f.severity.value == "critical"]
        if critical:
            raise ToolRefused(f"refused by the security scanner: {critical[0].message} (`{critical[0].excerpt}`)")
        timeout = args.get("timeout")
        limit = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else 600.0
        tee = _TeeLog(self.ctx.log)
        argv = command_argv(command)
        handle = ShellHandle(self.ctx.wrap_argv(argv), cwd=str(self.root), env=self.ctx.env, log=tee,
                             on_spawn=self.ctx.on_spawn, shown=argv)
        self.command = handle
        timed_out = False

        async def deadline() -> None:
            nonlocal timed_out
            await anyio.sleep(limit)
            timed_out = True
            await handle.stop(2.0)  # SIGTERM, then SIGKILL: the whole process group

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(deadline)
                outcome = await handle.run()
                tg.cancel_scope.cancel()
        finally:
            self.command = None
        out = "".join(tee.text)
        if len(out) > MAX_OUTPUT:
            out = "…" + out[-MAX_OUTPUT:]
        status = f"timed out after {limit:g}s" if timed_out else f"exit code {outcome.exit_code}"
        return f"{status}\n{out}"
