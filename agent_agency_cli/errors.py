"""Exception hierarchy; every user-facing error carries its process exit code.

Exit codes (documented in the README):
0 done, 1 task failed, 2 bad input / usage, 3 not found, 4 cancelled,
5 conflict (wrong state), 6 task stored but not started, 130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_CANCELLED = 4
EXIT_CONFLICT = 5
EXIT_STORED_NOT_STARTED = 6
EXIT_INTERRUPTED = 130


class AgencyError(Exception):
    """Base of all errors a user can cause; `str(err)` is one actionable line."""

    exit_code = EXIT_FAILED


class BadInputError(AgencyError):
    """Invalid plan, config, option value or request. Nothing was written."""

    exit_code = EXIT_BAD_INPUT


class PlanError(BadInputError):
    """A plan file that cannot be run as written."""


class ConfigError(BadInputError):
    """A config file that is missing, unreadable or invalid."""


class NotFoundError(AgencyError):
    """An unknown or ambiguous task id, or an unknown step name."""

    exit_code = EXIT_NOT_FOUND


class ConflictError(AgencyError):
    """The task or step is in a state that does not allow the request."""

    exit_code = EXIT_CONFLICT


class InvalidTransition(ConflictError):
    """A state change not allowed by the transition table in models.py."""


class DaemonError(AgencyError):
    """The background engine could not be started, reached or stopped."""

    exit_code = EXIT_FAILED


class StoredNotStartedError(AgencyError):
    """The task was stored (it has an id) but what follows the insert failed (e.g. the
    daemon did not start). The id must reach the user so they do not submit it again."""

    exit_code = EXIT_STORED_NOT_STARTED

    def __init__(self, task_id: str, cause: BaseException):
        detail = str(cause) if isinstance(cause, AgencyError) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"task {task_id} is stored but was not started: {detail} "
                         f"(start it with `agent-agency-cli daemon start`; do not submit it again)")
        self.task_id = task_id
