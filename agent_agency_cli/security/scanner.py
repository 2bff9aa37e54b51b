"""The command and secret scanner: `scan_text` turns text into findings.

Secret rules run on the raw text. Command rules run on the text as the shell would
run it (`security.shell.expand_command`), with every secret already masked so an
excerpt cannot leak one; the programs nested in `sh -c '…'` or `eval` are scanned
again, and what only the order of commands shows (a download that is then run) comes
from `security.shell.read_shell`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from agent_agency_cli.models import Level
from agent_agency_cli.security.masking import mask_one, mask_secrets
from agent_agency_cli.security.rules import COMMAND_RULES, SECRET_RULES, Category, Rule
from agent_agency_cli.security.shell import expand_command, read_shell

__all__ = ["Finding", "consequential_matches", "scan_plan_steps", "scan_text", "shell_views"]

_EXCERPT_MAX = 120
_NESTED_DEPTH = 3

# Findings that only the command structure shows (security.shell), as rule rows.
_STRUCTURE: dict[str, tuple[Category, Level, str]] = {
    "download-then-run": (Category.REMOTE_EXEC, Level.HIGH,
                          "running a file that a download just wrote (curl -o f URL; sh f)"),
    "clone-then-run": (Category.REMOTE_EXEC, Level.HIGH,
                       "running a script from a freshly cloned repository (git clone … && ./install.sh)"),
}


@dataclass(frozen=True)
class Finding:
    rule_id: str
    category: Category
    severity: Level
    where: str
    message: str
    excerpt: str  # the matched text, secrets masked, at most ~120 characters

    def line(self) -> str:
        """One line for people: where, what, how bad, and the excerpt."""
        return f"{self.where}: {self.message} [{self.severity}]: `{self.excerpt}`"

    def to_json(self) -> dict[str, str]:
        return {
            "rule_id": self.rule_id,
            "category": str(self.category),
            "severity": str(self.severity),
            "where": self.where,
            "message": self.message,
            "excerpt": self.excerpt,
        }


def _excerpt(text: str) -> str:
    text = text.strip().lstrip(";&|({`").strip()
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= _EXCERPT_MAX else text[: _EXCERPT_MAX - 1] + "…"


@dataclass
class _Hit:
    finding: Finding
    source: tuple[str, int]  # which text the span is in
    span: tuple[int, int]
    order: int


def _drop_covered(hits: list[_Hit]) -> list[Finding]:
    """Drop a hit whose span lies inside another hit's span in the same text that is more severe,
    or as severe and of the same category (on equal spans the earlier rule wins); and repeats of
    one rule with the same excerpt (the same command seen in two views).

    `chmod -R 777 /` is reported as critical only, not also as "world-writable";
    `GITHUB_TOKEN=ghp_…` as a GitHub token, not also as a generic assignment;
    `sudo rm -rf /` keeps both (the rm is not inside a more severe hit).
    """
    kept: list[_Hit] = []
    for h in hits:
        covered = False
        for o in hits:
            if o is h or o.source != h.source:
                continue
            inside = o.span[0] <= h.span[0] and h.span[1] <= o.span[1]
            if not inside:
                continue
            if o.finding.severity.rank > h.finding.severity.rank:
                covered = True
                break
            same_kind = o.finding.severity is h.finding.severity and o.finding.category is h.finding.category
            if same_kind and (o.span != h.span or o.order < h.order):
                covered = True
                break
        if not covered:
            kept.append(h)
    seen: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for h in sorted(kept, key=lambda h: h.order):
        key = (h.finding.rule_id, h.finding.excerpt)
        if key not in seen:
            seen.add(key)
            out.append(h.finding)
    return out


def _command_hits(text: str, where: str, hits: list[_Hit], tag: str, depth: int) -> None:
    """Command rules over the shell's view of `text`, then its nested programs."""
    reading = read_shell(text)
    shown = mask_secrets(expand_command(mask_secrets(text), reading.variables))
    for lineno, line in enumerate(shown.splitlines()):
        for rule in COMMAND_RULES:
            if rule.whole_text:
                continue
            for m in rule.pattern.finditer(line):
                _add(hits, rule, where, m.group(), (f"{tag}line", lineno), m.span())
    joined = " ".join(shown.split())
    for rule in COMMAND_RULES:
        if rule.whole_text:
            for m in rule.pattern.finditer(joined):
                _add(hits, rule, where, m.group(), (f"{tag}joined", 0), m.span())
    for rule_id, excerpt in reading.findings:
        category, severity, message = _STRUCTURE[rule_id]
        finding = Finding(rule_id, category, severity, where, message, _excerpt(mask_secrets(excerpt)))
        hits.append(_Hit(finding, (f"{tag}structure", len(hits)), (0, 0), len(hits)))
    if depth < _NESTED_DEPTH:
        for i, program in enumerate(reading.nested):
            _command_hits(program, where, hits, f"{tag}nested{i}.", depth + 1)


def _add(hits: list[_Hit], rule: Rule, where: str, text: str, source: tuple[str, int],
         span: tuple[int, int]) -> None:
    finding = Finding(rule.id, rule.category, rule.severity, where, rule.message, _excerpt(text))
    hits.append(_Hit(finding, source, span, len(hits)))


def scan_text(text: str, where: str) -> list[Finding]:
    """Every rule's matches in `text`; `where` names the place ("description", "step 'deploy'")."""
    if not text:
        return []
    where = mask_secrets(where)
    hits: list[_Hit] = []
    for rule in SECRET_RULES:
        for m in rule.pattern.finditer(text):
            if "s" in rule.pattern.groupindex and m.start("s") >= 0:
                s0, s1 = m.span("s")
                shown = text[m.start() : s0] + mask_one(text[s0:s1]) + text[s1 : m.end()]
                span = (s0, s1)
            else:
                shown, span = mask_one(m.group()), m.span()
            finding = Finding(rule.id, rule.category, rule.severity, where, rule.message,
                              _excerpt(mask_secrets(shown)))
            hits.append(_Hit(finding, ("raw", 0), span, len(hits)))
    _command_hits(text, where, hits, "", 0)
    return _drop_covered(hits)


def scan_plan_steps(steps: Iterable[tuple[str, str]]) -> list[Finding]:
    """Scan each (step_name, command_text) pair; findings say `step '<name>'`."""
    findings: list[Finding] = []
    for name, command in steps:
        findings.extend(scan_text(command or "", f"step '{name}'"))
    return findings


def shell_views(commands: Iterable[str]) -> list[str]:
    """Each command as the shell would run it (read once, matched by many rules)."""
    return [expand_command(c or "", read_shell(c or "").variables) for c in commands]


def consequential_matches(rule: Rule, views: Iterable[str]) -> list[str]:
    """The text of `rule`'s first match in each command view (`shell_views`) that matches it."""
    hits = []
    for view in views:
        m = rule.pattern.search(view)
        if m:
            hits.append(m.group().strip())
    return hits

