"""Risk assessment (phase 1): a deterministic level with one readable reason per cause,
and the review mode the configured policy gives that level.

The keyword tables are data: add a row to extend them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from agent_agency_cli.validation import TaskValidation, mask_secrets, normalize_command

__all__ = [
    "COMMAND_RISKS",
    "DEFAULT_REVIEW_POLICY",
    "KEYWORD_RISKS",
    "LARGE_RESOURCES",
    "REVIEW_MODES",
    "ReviewMode",
    "RiskAssessment",
    "RiskLevel",
    "RiskRule",
    "assess_risk",
    "review_mode",
]


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2, RiskLevel.CRITICAL: 3}


@dataclass(frozen=True)
class RiskRule:
    pattern: re.Pattern[str]
    level: RiskLevel
    reason: str  # completes "a command …" / "the task …"


def _rule(pattern: str, level: RiskLevel, reason: str) -> RiskRule:
    return RiskRule(re.compile(pattern, re.IGNORECASE), level, reason)


_L, _M, _H = RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH
_W = r"(?<![\w.-])"  # start of a command word
_SEG = r"[^;&|\n]{0,400}?"  # the rest of one simple command, bounded so long lines stay linear

# Commands the scanner allows (they are normal work) but that reach outside the
# machine or change shared state. Every matching row is a reason; a command that
# matches a specific row (git push --force) also matches the general one (git push).
COMMAND_RISKS: tuple[RiskRule, ...] = (
    _rule(_W + r"git\s+push\b" + _SEG + r"(?:\s--force\b|\s-f\b|\s--force-with-lease\b|\s\+\S)", _H,
          "force-pushes to a git remote, which can overwrite shared history"),
    _rule(_W + r"git\s+push\b", _M, "pushes commits to a git remote"),
    _rule(_W + r"git\s+(?:reset\s+--hard|clean\s+-\w*f)", _M, "discards local changes (git reset --hard / git clean)"),
    _rule(_W + r"(?:docker|podman)\s+(?:run|create)\b" + _SEG + r"--privileged", _H, "runs a privileged container"),
    _rule(_W + r"(?:docker|podman)\s+push\b", _M, "pushes a container image to a registry"),
    _rule(_W + r"(?:docker|podman)(?:\s+compose|-compose)?\s+(?:run|up|down|rm|rmi|kill|stop|exec|build|start"
          r"|system\s+prune|volume\s+rm|network\s+rm)\b", _M, "runs or changes containers (docker)"),
    _rule(_W + r"kubectl\s+(?:delete|drain|cordon)\b", _H, "deletes or drains Kubernetes resources"),
    _rule(_W + r"kubectl\s+(?:apply|create|replace|patch|scale|rollout|set|edit|label|annotate)\b", _M,
          "changes a Kubernetes cluster (kubectl apply)"),
    _rule(_W + r"helm\s+(?:install|upgrade|uninstall|delete|rollback)\b", _M, "changes a Helm release"),
    _rule(_W + r"(?:terraform|tofu)\s+(?:destroy\b|apply\b" + _SEG + r"\s-destroy\b)", _H,
          "destroys infrastructure (terraform destroy)"),
    _rule(_W + r"(?:terraform|tofu)\s+apply\b|pulumi\s+(?:up|destroy)\b", _H,
          "changes real infrastructure (terraform apply)"),
    _rule(_W + r"(?:(?:npm|yarn|pnpm)\s+publish|twine\s+upload|cargo\s+publish|gem\s+push|(?:poetry|uv|flit|hatch)"
          r"\s+publish)\b", _M, "publishes a package to a registry (npm publish)"),
    _rule(_W + r"(?:ssh|scp|sftp)\s|" + _W + r"rsync\s" + _SEG + r"\s(?:[\w.-]+@)?[\w.-]+:(?!//)", _M,
          "connects to a remote host (ssh / scp / rsync)"),
    _rule(_W + r"(?:aws|gcloud|az|doctl)\s+[a-z]", _M, "calls a cloud provider's CLI"),
    _rule(_W + r"(?:systemctl|service)\s+(?:\S+\s+)?(?:start|stop|restart|reload|enable|disable|mask)\b", _M,
          "starts, stops or reconfigures system services"),
    _rule(r"\b(?:drop\s+(?:table|database|schema)|truncate\s+table)\b", _H,
          "drops or truncates database objects"),
    _rule(r"\bdelete\s+from\s+\w+(?![^;\n]{0,1000}?\bwhere\b)", _H,
          "deletes every row of a table (DELETE without WHERE)"),
    _rule(_W + r"curl\s" + _SEG + r"(?:-X\s*(?:POST|PUT|PATCH|DELETE)\b|\s(?:-d|--data\S*|-F|--form)\s)", _M,
          "sends data to a remote service (curl -X POST)"),
)

# Words in the description or a requirement.
KEYWORD_RISKS: tuple[RiskRule, ...] = (
    _rule(r"\A(?=[\s\S]*\bdeploy\w*)(?=[\s\S]*\bprod(?:uction)?\b)", _H, "deploys to production"),
    _rule(r"\bprod(?:uction)?\b", _M, "mentions production"),
    _rule(r"\b(?:deploy\w*|release|rollout|go[- ]live)\b", _M, "deploys or releases something"),
    _rule(r"\A(?=[\s\S]*\bmigrat)(?=[\s\S]*\b(?:database|db|schema)\b)", _M,
          "migrates a database"),
    _rule(r"\b(?:customer|personal|user)\s+data\b|\bpii\b|\bgdpr\b|\bpayments?\b|\bbilling\b", _M,
          "touches personal or payment data"),
    _rule(r"\b(?:credentials?|secrets?)\b", _M, "handles credentials or secrets"),
)

# A resource ask at or above this is large (medium risk).
LARGE_RESOURCES: dict[str, tuple[float, str]] = {
    "cpu_cores": (8, "CPU cores"),
    "memory_mb": (16384, "MB of memory"),
    "storage_gb": (100, "GB of storage"),
    "gpu_memory_mb": (1, "MB of GPU memory"),
}

ReviewMode = Literal["blocking", "async", "advisory"]
REVIEW_MODES: tuple[str, ...] = ("blocking", "async", "advisory")
DEFAULT_REVIEW_POLICY: dict[str, ReviewMode] = {
    "critical": "blocking",
    "high": "blocking",
    "medium": "async",
    "low": "advisory",
}


@dataclass(frozen=True)
class RiskAssessment:
    level: RiskLevel
    reasons: list[str]  # worst first; never empty

    def to_json(self) -> dict[str, Any]:
        return {"level": str(self.level), "reasons": list(self.reasons)}


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(mask_secrets(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def assess_risk(
    validation: TaskValidation,
    *,
    commands: list[str],
    mode: str,
    requirements: list[str],
    resources: Mapping[str, Any],
    priority: str,
    description: str = "",
) -> RiskAssessment:
    """The task's risk level and why.

    * Each scanner finding counts at its severity (critical -> critical, high and
      secrets -> high, medium -> medium, low -> low with a reason).
    * Allowed but consequential commands (COMMAND_RISKS), sensitive words in the
      description or requirements (KEYWORD_RISKS) and large resource asks
      (LARGE_RESOURCES, medium) count at their row's level.
    * In dry-run mode nothing is executed: commands, keywords and resources are
      reported but do not raise the level; findings still do (the plan text itself
      is dangerous or leaks a secret wherever it is stored).
    * `priority` does not change the level: urgency is not risk.
    """
    del priority  # accepted so callers can pass the whole request; see the docstring
    found: list[tuple[RiskLevel, str]] = []
    for f in validation.findings:
        found.append((RiskLevel(f.severity.value), f"{f.where}: {f.message} ({f.severity} finding)."))

    side: list[tuple[RiskLevel, str]] = []
    normalized = [normalize_command(c or "") for c in commands]
    for rule in COMMAND_RISKS:
        hits = []
        for command in normalized:
            m = rule.pattern.search(command)
            if m:
                hits.append(_short(m.group().strip()))
        if hits:
            side.append((rule.level, f"A command {rule.reason}: `{hits[0]}`" + (
                f" (and {len(hits) - 1} more)." if len(hits) > 1 else ".")))
    texts = [("the description", description or "")] + [
        (f"requirement {i}", r or "") for i, r in enumerate(requirements, 1)]
    for rule in KEYWORD_RISKS:
        places = [where for where, text in texts if rule.pattern.search(text)]
        if places:
            side.append((rule.level, f"The task {rule.reason} ({', '.join(places)})."))
    for key, (threshold, unit) in LARGE_RESOURCES.items():
        value = resources.get(key)
        if isinstance(value, int | float) and value >= threshold:
            side.append((RiskLevel.MEDIUM, f"The plan asks for {value:g} {unit} ({threshold:g} or more is large)."))

    counted = list(found)
    reasons_extra: list[str] = []
    if str(mode) == "dry-run":
        if side:
            reasons_extra.append(
                f"Dry-run: nothing is executed, so {len(side)} command, keyword or resource risk(s) do not raise "
                "the level.")
            counted.extend((RiskLevel.LOW, text) for _, text in side)
    else:
        counted.extend(side)

    if not counted:
        return RiskAssessment(RiskLevel.LOW, [
            "No security findings, consequential commands, sensitive keywords or large resource asks."])
    counted.sort(key=lambda item: -item[0].rank)  # stable: table order within a level
    level = counted[0][0]
    return RiskAssessment(level, [text for _, text in counted] + reasons_extra)


def review_mode(level: RiskLevel | str, policy: Mapping[str, str] | None = None) -> ReviewMode:
    """How the council reviews a task of this level: config `council.review_policy`, else the default.

    A level missing from the policy falls back to DEFAULT_REVIEW_POLICY; an unknown
    mode in the policy is a ValueError (config validation should have caught it).
    """
    lvl = RiskLevel(level)
    mode = (policy or {}).get(str(lvl)) or DEFAULT_REVIEW_POLICY[str(lvl)]
    if mode not in REVIEW_MODES:
        raise ValueError(f"unknown review mode {mode!r} for {lvl} risk (use blocking, async or advisory)")
    return mode  # type: ignore[return-value]
