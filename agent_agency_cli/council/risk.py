"""Risk assessment (phase 1): a deterministic level with one readable reason per cause,
and the review mode the configured policy gives that level.

The keyword table is data: add a row to extend it. Consequential commands are rows of
the scanner's one rule table (`agent_agency_cli.security.rules`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agent_agency_cli.models import Level
from agent_agency_cli.security.masking import mask_secrets
from agent_agency_cli.security.rules import CONSEQUENTIAL_RULES, Rule
from agent_agency_cli.security.scanner import consequential_matches, shell_views
from agent_agency_cli.validation import TaskValidation

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


RiskLevel = Level  # a task's risk is the shared low < medium < high < critical ranking


@dataclass(frozen=True)
class RiskRule:
    pattern: re.Pattern[str]
    level: RiskLevel
    reason: str  # completes "a command …" / "the task …"


def _rule(pattern: str, level: RiskLevel, reason: str) -> RiskRule:
    return RiskRule(re.compile(pattern, re.IGNORECASE), level, reason)


_L, _M, _H = Level.LOW, Level.MEDIUM, Level.HIGH

# Commands the scanner allows (they are normal work) but that reach outside the
# machine or change shared state: the `consequential` rows of the one rule table.
COMMAND_RISKS: tuple[Rule, ...] = CONSEQUENTIAL_RULES

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
    views = shell_views(commands)
    for rule in COMMAND_RISKS:
        hits = [_short(text) for text in consequential_matches(rule, views)]
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
