"""agent-agency-cli: run agent tasks end to end on one machine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["TaskOrchestrator", "TaskRequest", "__version__"]

if TYPE_CHECKING:
    from agent_agency_cli.orchestrator import TaskOrchestrator
    from agent_agency_cli.request import TaskRequest

    __version__: str


def __getattr__(name: str) -> Any:
    # Lazy so that `import agent_agency_cli` (and the CLI's --help) stays cheap.
    if name == "TaskOrchestrator":
        from agent_agency_cli.orchestrator import TaskOrchestrator  # lazy: keeps start-up light

        return TaskOrchestrator
    if name == "TaskRequest":
        from agent_agency_cli.request import TaskRequest  # lazy: keeps start-up light

        return TaskRequest
    if name == "__version__":
        return _version()
    raise AttributeError(name)


def _version() -> str:
    """The one version source: the installed package's metadata (from pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version  # lazy: keeps start-up light

    try:
        return version("agent-agency-cli")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"
