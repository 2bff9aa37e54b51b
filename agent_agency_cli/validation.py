"""Input validation and the security scan (phase 1): the seed's TaskValidation.

Pure functions, no database or I/O. `validate_task` checks the description, the
requirements, the plan's commands (a rule-based scanner), the deadline against the
estimate and the resource asks against the configured limits. Every check yields a
`Status`; the task's `overall` status is the worst of them.

The scanner's rules are one data table, `RULES`. Command rules run on a normalised
copy of each line (continuations joined, quotes and backslash escapes removed, as
the shell would before running it); secret rules run on the raw text. Secrets never
leave this module unmasked: excerpts, messages and step names go through
`mask_secrets`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent_agency_cli.units import describe_duration as human_duration

__all__ = [
    "MAX_REQUIREMENT_LENGTH",
    "RULES",
    "Category",
    "CheckResult",
    "Finding",
    "ResourceEstimate",
    "Rule",
    "Severity",
    "Status",
    "TaskValidation",
    "human_duration",
    "mask_secrets",
    "normalize_command",
    "scan_plan_steps",
    "scan_text",
    "validate_task",
    "worst_status",
]


class Status(StrEnum):
    """The seed's ValidationResult; `rank` orders them passed < warning < requires_review < failed."""

    PASSED = "passed"
    WARNING = "warning"
    REQUIRES_REVIEW = "requires_review"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]


_STATUS_RANK = {Status.PASSED: 0, Status.WARNING: 1, Status.REQUIRES_REVIEW: 2, Status.FAILED: 3}


def worst_status(statuses: Iterable[Status]) -> Status:
    """failed > requires_review > warning > passed; passed for none."""
    return max(statuses, key=lambda s: s.rank, default=Status.PASSED)


class Category(StrEnum):
    DESTRUCTIVE = "destructive"
    REMOTE_EXEC = "remote_exec"
    SYSTEM_WRITE = "system_write"
    PRIVILEGE = "privilege"
    SECRET = "secret"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @property
    def status(self) -> Status:
        """What a finding of this severity makes of the security scan."""
        return _SEVERITY_STATUS[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
_SEVERITY_STATUS = {
    Severity.LOW: Status.WARNING,
    Severity.MEDIUM: Status.WARNING,
    Severity.HIGH: Status.REQUIRES_REVIEW,
    Severity.CRITICAL: Status.FAILED,
}


@dataclass(frozen=True)
class Rule:
    """One scanner rule. Secret rules may name a group `s`: only that part is masked."""

    id: str
    category: Category
    severity: Severity
    pattern: re.Pattern[str]
    message: str


@dataclass(frozen=True)
class Finding:
    rule_id: str
    category: Category
    severity: Severity
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


# -- the rule table ------------------------------------------------------------------
#
# Decisions, in one place:
# * Command rules are case-insensitive: macOS's default filesystem is, so `RM -RF /`
#   runs there, and upper-case flags are real (`rm -R`, `chmod -R`).
# * A command that only prints or searches a word (`echo password`, `grep token f`,
#   `pip install sudo-utils`) is never a finding: privilege rules need the command at
#   a command position (line start, or after ; & | ( { ` $( then do else exec xargs…).
# * Deleting relative paths, or anything below a top-level directory (`./build`,
#   `/tmp/x/build`, `~/proj/build`) is ordinary; deleting `/`, `~`, `$HOME` or a whole
#   top-level system directory (`/etc`, `/usr/*`) is critical. `rm -rf $VAR/` is medium:
#   an empty variable turns it into `rm -rf /` (`${VAR:?}/` is the safe form and passes).
# * `dd` is only a finding when it writes to a disk device (`of=/dev/sda`), not
#   `dd if=a of=b`; redirects to /dev/null, /dev/stdout and friends are not writes.
# * Writes into system directories (`/etc`, `/usr`, `/bin`, `/sbin`, `/boot`, `/lib*`,
#   `/sys`, `/proc`, `/root`, macOS `/System`, `/Library`) are high: `/usr/local` is
#   included (it needs root too); `/var`, `/opt`, `/srv` and `/tmp` are not, services
#   write there. `cp`/`mv`/`install` count only when the system path is the
#   destination (the last argument, or `-t DIR`): `cp /etc/hosts ./hosts` only reads.
# * Piping a download into a shell is high (not critical): `curl … | sh` is how many
#   tools install, a person should look at it. Piping into python/jq is not flagged
#   (`curl … | python -m json.tool` is common and reads data), but running a download
#   through process substitution (`python <(curl …)`) is.
# * Secrets are high (requires review) whatever the kind. Generic assignments
#   (`password=…`, `api_key: "…"`, `token=…`) need a real value: at least 6
#   characters, not a reference (`$VAR`, `${…}`, `{{ … }}`, `<…>`, `%(…)`), not a mask
#   (`****`, `xxxxxx`); an unquoted all-letter value under 12 characters
#   (`password: required`) reads as prose and is skipped.

_I = re.IGNORECASE
_M = re.MULTILINE

# Start of a command: line start or a shell separator, then optional VAR=value words,
# then an optional directory (`/usr/bin/sudo`).
_CMD = (
    r"(?:^|(?<=[;&|({`])|(?<=\$\()|(?<=\bthen\s)|(?<=\bdo\s)|(?<=\belse\s)|(?<=\bexec\s)"
    r"|(?<=\bxargs\s)|(?<=\bnohup\s)|(?<=\benv\s)|(?<=\btime\s))\s*(?:[A-Za-z_]\w*=[^\s;&|(){}`]*\s+)*(?:[^\s;&|(){}`]*/)?"
)
_NOT_PART = r"(?<![\w.-])"  # the command word is not part of a longer word (`sudo-utils`, `x.rm`)
_END = r"(?=[\s;&|)`]|$)"  # end of a shell word
_SYS = r"(?:etc|usr|bin|sbin|boot|lib|lib32|lib64|libx32|sys|proc|root|System|Library)"
_SYS_PATH = rf"/{_SYS}(?=/|[\s;&|)`]|$)[^\s;&|)`]*"
_TOP = (
    r"(?:bin|boot|dev|etc|home|lib|lib32|lib64|libx32|opt|proc|root|run|sbin|srv|sys|usr|var"
    r"|System|Library|Users|Applications)"
)
_DISK = r"(?:sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|r?disk\d|md\d|dm-\d|mapper/|mem\b|kmem\b|port\b)"
# The arguments of one simple command, searched at most 400 characters ahead: keeps
# every rule linear on long lines (a flag further away than that is not seen).
_ARGS = r"[^;&|\n]{0,400}?"
# rm with a recursive flag somewhere in the same simple command, then any arguments.
_RM_RECURSIVE = (
    _NOT_PART + r"rm(?=" + _ARGS + r"\s(?:-[a-z]*r[a-z]*|--recursive)" + _END + r")\s+(?:[^\s;&|]+\s+){0,40}?"
)
_REDIRECT = r"(?<![<>=-])(?:\d|&)?>{1,2}\|?\s*"
_SHELL = r"(?:[^\s;&|]*/)?(?:ba|z|k|da|fi|a)?sh"
_OPTS = r"(?:\s+-\S+)*"
# After `| `: optional sudo/env wrappers and VAR=value words, then a shell.
_INTO_SHELL = r"\s*(?:(?:sudo|doas|env|command|exec)" + _OPTS + r"\s+)*(?:[A-Za-z_]\w*=[^\s;&|]*\s+)*" + _SHELL + _END


def _pipeline_into(target: str) -> str:
    """The rest of a pipeline up to a `|` followed by `target` (at most 20 stages).

    Possessive segments keep it linear on long lines; URLs of any length fit.
    """
    return r"[^\n;&|]*+(?:\|(?!" + target + r")[^\n;&|]*+){0,20}\|" + target

# Secret values of a generic assignment: quoted (6+ characters) or unquoted (6+ with a
# non-letter, or 12+ letters); never a reference or a run of one character.
_VALUE = (
    r"(?P<q>[\"'])?(?![$<%{*])(?![^\s\"']{0,200}\*\*\*\*)(?!(?P<rep>[^\s\"'])(?P=rep)+(?:[\"'\s,;]|$))"
    r"(?P<s>(?(q)[^\"'\n]{6,}(?=[\"'])|(?:(?=[^\s\"'<>;&|,]*[^A-Za-z\s\"'<>;&|,])[^\s\"'<>;&|,]{6,}"
    r"|[A-Za-z]{12,}(?![^\s\"'<>;&|,]))))"
)


def _r(rule_id: str, category: Category, severity: Severity, pattern: str, message: str, flags: int = _I | _M) -> Rule:
    return Rule(rule_id, category, severity, re.compile(pattern, flags), message)


_D, _R, _W, _P, _S = (Category.DESTRUCTIVE, Category.REMOTE_EXEC, Category.SYSTEM_WRITE, Category.PRIVILEGE,
                      Category.SECRET)
_LOW, _MED, _HIGH, _CRIT = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL

RULES: tuple[Rule, ...] = (
    # -- destructive ----------------------------------------------------------------
    _r("rm-root", _D, _CRIT, _RM_RECURSIVE + r"(?:/|~/?|\$\{?HOME\}?/?)\*?" + _END,
       "recursive delete of the root or home directory (rm -rf /)"),
    _r("rm-system-dir", _D, _CRIT, _RM_RECURSIVE + rf"/{_TOP}/?\*?" + _END,
       "recursive delete of a top-level system directory (rm -rf /etc)"),
    _r("rm-unset-variable", _D, _MED, _RM_RECURSIVE + r"\$\{?\w+\}?/\*?" + _END,
       "recursive delete of a path built from a variable that may be empty (rm -rf $DIR/); use ${DIR:?}/"),
    _r("find-root-delete", _D, _CRIT,
       _NOT_PART + r"find\s+(?:/|~|\$\{?HOME\}?)\s" + _ARGS + r"(?:-delete|-exec\s+rm)\b",
       "deleting everything found under the root or home directory (find / -delete)"),
    _r("mkfs", _D, _CRIT, _NOT_PART + r"(?:mkfs(?:\.\w+)?|mke2fs|mkswap)" + _END + r"[^;&|\n]*",
       "formatting a filesystem (mkfs)"),
    _r("dd-disk", _D, _CRIT, _NOT_PART + r"dd\s" + _ARGS + rf"\bof=/dev/{_DISK}\S*",
       "raw write to a disk device (dd of=/dev/sdX)"),
    _r("disk-redirect", _D, _CRIT, _REDIRECT + rf"/dev/{_DISK}\S*",
       "overwriting a disk device through a redirect (> /dev/sda)"),
    _r("disk-wipe", _D, _CRIT, _NOT_PART + r"(?:shred|wipefs|blkdiscard)\s" + _ARGS + rf"/dev/{_DISK}\S*",
       "wiping a disk device (shred / wipefs)"),
    _r("fork-bomb", _D, _CRIT,
       r"(?:function\s+)?(?<![\w:.])(?P<f>[\w:.]+)\s*(?:\(\s*\))?\s*\{\s*(?P=f)\s*\|\s*(?P=f)\s*&\s*;?\s*\}",
       "fork bomb (:(){ :|:& };:)"),
    _r("fork-loop", _D, _CRIT, r"\bfork\s+while\s+fork\b|\bwhile\s+(?:true|1)\s*:\s*os\.fork\(\)",
       "fork bomb loop (fork while fork)"),
    # -- remote code execution -------------------------------------------------------
    _r("pipe-to-shell", _R, _HIGH, _NOT_PART + r"(?:curl|wget|fetch|aria2c)\b" + _pipeline_into(_INTO_SHELL),
       "piping a download into a shell (curl … | sh)"),
    _r("shell-substitution-download", _R, _HIGH,
       _NOT_PART + r"(?:(?:ba|z|k|da|a)?sh|source|eval|\.|python[\d.]*|perl|ruby|node)(?:\s+-\S+)*\s+"
       r"(?:<\(|\$\()\s*(?:curl|wget|fetch)\b[^\n;&]*",
       "running a download through process substitution (bash <(curl …))"),
    _r("powershell-download-exec", _R, _HIGH,
       r"\b(?:iwr|irm|invoke-webrequest|invoke-restmethod|curl|wget)\b"
       + _pipeline_into(r"\s*(?:iex|invoke-expression)\b")
       + r"|\b(?:iex|invoke-expression)\b[^\n]{0,400}?"
       r"\b(?:downloadstring|iwr|irm|invoke-webrequest|invoke-restmethod)\b",
       "running a download with PowerShell (irm … | iex)"),
    # -- writes to system paths -------------------------------------------------------
    _r("redirect-system-path", _W, _HIGH, _REDIRECT + _SYS_PATH,
       "writing to a system path through a redirect (> /etc/passwd)"),
    _r("tee-system-path", _W, _HIGH, _NOT_PART + r"tee(?:\s+-\S+)*(?:\s+[^\s;&|]+){0,40}?\s+" + _SYS_PATH,
       "writing to a system path with tee (tee /etc/…)"),
    _r("copy-into-system-path", _W, _HIGH,
       _NOT_PART + r"(?:cp|mv|install|ln|rsync)(?=\s)(?:" + _ARGS + r"\s(?:-t\s*|--target-directory=)" + _SYS_PATH
       + r"|" + _ARGS + r"\s" + _SYS_PATH + r"(?=(?:\s+\d?>>?\s*[^\s;&|>]+)*\s*(?:[;&|)`]|$)))",
       "copying or moving files into a system directory (cp x /usr/bin/)"),
    _r("chmod-system-path", _W, _HIGH,
       _NOT_PART + r"(?:chmod|chown|chgrp|chattr|setfacl)\s" + _ARGS + r"(?<=\s)" + _SYS_PATH,
       "changing permissions or owner of a system path (chmod/chown /etc/…)"),
    _r("sed-system-path", _W, _HIGH,
       _NOT_PART + r"sed(?=" + _ARGS + r"\s(?:-[a-z]*i|--in-place))" + _ARGS + r"\s" + _SYS_PATH,
       "editing a system file in place (sed -i /etc/…)"),
    # -- privilege ------------------------------------------------------------------
    _r("chmod-777-root", _P, _CRIT,
       _NOT_PART + r"chmod(?:\s+-\S+)*\s+(?:0?777|(?:a|ugo)?[+=]rwx)(?:\s+-\S+)*\s+(?:/|/" + _TOP + r"/?)\*?"
       + _END,
       "making the root or a system directory world-writable (chmod -R 777 /)"),
    _r("setuid", _P, _HIGH, _NOT_PART + r"chmod(?:\s+-\S+)*\s+(?:[ugoa]*\+[rwxXt]*s[rwxXst]*|[2467][0-7]{3})" + _END,
       "setting the setuid/setgid bit (chmod u+s)"),
    _r("sudo", _P, _HIGH, _CMD + r"sudo(?=\s+\S)[^;&|\n]*", "running a command as root (sudo)"),
    _r("su", _P, _HIGH, _CMD + r"su(?:\s+(?:-[\w-]*|root))*" + _END, "switching to another user (su -)"),
    _r("doas", _P, _HIGH, _CMD + r"(?:doas|pkexec|runas)(?=\s+\S)[^;&|\n]*",
       "running a command as another user (doas / pkexec)"),
    _r("chmod-world-writable", _P, _LOW,
       _NOT_PART + r"chmod(?:\s+-\S+)*\s+(?:0?777|0?666|(?:a|ugo)[+=]rwx|o[+=]w\w*)" + _END,
       "making files world-writable (chmod 777)"),
    # -- secrets (raw text; specific kinds before the generic assignment) --------------
    _r("aws-access-key", _S, _HIGH, r"\b(?P<s>(?:AKIA|ASIA)[0-9A-Z]{16})\b", "AWS access key id", _M),
    _r("aws-secret-key", _S, _HIGH,
       r"(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?(?P<s>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
       "AWS secret access key", _M),
    _r("github-token", _S, _HIGH,
       r"(?<![A-Za-z0-9_])(?P<s>gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})", "GitHub token", _M),
    _r("openai-key", _S, _HIGH, r"(?<![A-Za-z0-9_-])(?P<s>sk-(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,})",
       "OpenAI-style API key (sk-…)", _M),
    _r("slack-token", _S, _HIGH, r"(?<![A-Za-z0-9_-])(?P<s>xox[baprse]-[A-Za-z0-9-]{10,})", "Slack token", _M),
    _r("private-key", _S, _HIGH,
       r"(?P<s>-----BEGIN[ A-Z0-9]*PRIVATE KEY-----(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY-----|[\s\S]*))",
       "private key block", _M),
    _r("jwt", _S, _HIGH, r"(?<![A-Za-z0-9_-])(?P<s>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
       "JSON web token", _M),
    _r("bearer-token", _S, _HIGH, r"(?i:\bbearer)\s+(?P<s>[A-Za-z0-9._~+/=-]{20,})", "bearer token", _M),
    _r("url-credentials", _S, _HIGH,
       r"(?i:(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,30}://)[^\s:/@\"']+:(?P<s>(?![$<{*])[^\s@/\"']{3,})@",
       "password in a URL", _M),
    _r("secret-flag", _S, _HIGH,
       r"(?i:--(?:password|passwd|token|api-key|secret))\s+(?P<s>(?![$<%{*\"'-])[^\s;&|]{4,})",
       "secret passed as a command-line flag", _M),
    _r("secret-assignment", _S, _HIGH,
       r"(?i:(?<![a-z0-9])(?:password|passwd|passphrase|secret|api[_-]?key|apikey|access[_-]?token"
       r"|auth[_-]?token|access[_-]?key|token|client[_-]?secret|secret[_-]?key|private[_-]?key))"
       r"[\"']?\s*[:=]\s*" + _VALUE,
       "secret assigned in plain text (password=…)", _M),
)

_SECRET_RULES = tuple(r for r in RULES if r.category is Category.SECRET)
_COMMAND_RULES = tuple(r for r in RULES if r.category is not Category.SECRET)
_EXCERPT_MAX = 120


# -- masking -------------------------------------------------------------------------


def _secret_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for rule in _SECRET_RULES:
        for m in rule.pattern.finditer(text):
            span = m.span("s") if "s" in rule.pattern.groupindex and m.start("s") >= 0 else m.span()
            if span[1] > span[0]:
                spans.append(span)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _mask_one(secret: str) -> str:
    # At most 4 characters survive, and never more than a quarter of the secret:
    # `AKIA****` for a key id, `h****` for a 7-character password.
    return secret[: min(4, len(secret) // 4)] + "****"


def mask_secrets(text: str) -> str:
    """Replace every secret the scanner knows by its first (at most 4) characters and `****`."""
    if not text:
        return text
    out = text
    for start, end in reversed(_secret_spans(text)):
        out = out[:start] + _mask_one(out[start:end]) + out[end:]
    return out


# -- scanning ------------------------------------------------------------------------


def normalize_command(text: str) -> str:
    """What the shell would see: continuations joined, ${IFS} as a space, escapes and quotes removed."""
    text = re.sub(r"\\\r?\n", "", text)  # backslash-newline joins the lines
    text = re.sub(r"\$\{?IFS\}?", " ", text)  # rm${IFS}-rf${IFS}/
    text = re.sub(r"\\(.)", r"\1", text)  # r\m -> rm
    text = text.replace('"', "").replace("'", "")  # rm "-rf" / -> rm -rf /
    return re.sub(r"[ \t\f\v]+", " ", text)


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
    or as severe and of the same category (on equal spans the earlier rule wins).

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
    return [h.finding for h in sorted(kept, key=lambda h: h.order)]


def scan_text(text: str, where: str) -> list[Finding]:
    """Every rule's matches in `text`; `where` names the place ("description", "step 'deploy'")."""
    if not text:
        return []
    where = mask_secrets(where)
    hits: list[_Hit] = []
    for rule in _SECRET_RULES:
        for m in rule.pattern.finditer(text):
            if "s" in rule.pattern.groupindex and m.start("s") >= 0:
                s0, s1 = m.span("s")
                shown = text[m.start() : s0] + _mask_one(text[s0:s1]) + text[s1 : m.end()]
                span = (s0, s1)
            else:
                shown, span = _mask_one(m.group()), m.span()
            finding = Finding(rule.id, rule.category, rule.severity, where, rule.message,
                              _excerpt(mask_secrets(shown)))
            hits.append(_Hit(finding, ("raw", 0), span, len(hits)))
    # Command rules see the text as the shell would, with every secret already masked,
    # so their excerpts cannot leak one.
    for lineno, line in enumerate(mask_secrets(normalize_command(mask_secrets(text))).splitlines()):
        for rule in _COMMAND_RULES:
            for m in rule.pattern.finditer(line):
                finding = Finding(rule.id, rule.category, rule.severity, where, rule.message, _excerpt(m.group()))
                hits.append(_Hit(finding, ("line", lineno), m.span(), len(hits)))
    return _drop_covered(hits)


def scan_plan_steps(steps: Iterable[tuple[str, str]]) -> list[Finding]:
    """Scan each (step_name, command_text) pair; findings say `step '<name>'`."""
    findings: list[Finding] = []
    for name, command in steps:
        findings.extend(scan_text(command or "", f"step '{name}'"))
    return findings


# -- the checks ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """A check's status and its messages, worst first (each one line, secrets masked)."""

    status: Status = Status.PASSED
    messages: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list, repr=False)  # the messages that failed it

    def to_json(self) -> dict[str, Any]:
        return {"status": str(self.status), "messages": list(self.messages)}


@dataclass(frozen=True)
class ResourceEstimate:
    """The seed's ResourceEstimate: the plan's asks, the limits, and whether they fit."""

    status: Status = Status.PASSED
    messages: list[str] = field(default_factory=list)
    requested: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "messages": list(self.messages),
            "requested": dict(self.requested),
            "limits": dict(self.limits),
        }


class _Collector:
    def __init__(self) -> None:
        self.items: list[tuple[Status, str]] = []

    def add(self, status: Status, message: str) -> None:
        self.items.append((status, mask_secrets(message)))

    def _sorted(self) -> tuple[Status, list[str], list[str]]:
        items = sorted(self.items, key=lambda it: -it[0].rank)  # stable: same-status order kept
        status = worst_status(s for s, _ in items)
        return status, [m for _, m in items], [m for s, m in items if s is Status.FAILED]

    def result(self) -> CheckResult:
        status, messages, failures = self._sorted()
        return CheckResult(status, messages, failures)

    def estimate(self, requested: dict[str, float], limits: dict[str, float]) -> ResourceEstimate:
        status, messages, failures = self._sorted()
        return ResourceEstimate(status, messages, requested, limits, failures)


@dataclass(frozen=True)
class TaskValidation:
    """The seed's TaskValidation plus the scanner's findings; `overall` is the worst check."""

    description_check: CheckResult
    requirements_check: CheckResult
    security_scan: CheckResult
    feasibility_assessment: CheckResult
    resource_requirements: ResourceEstimate
    findings: list[Finding] = field(default_factory=list)

    def _checks(self) -> list[CheckResult | ResourceEstimate]:
        return [self.description_check, self.requirements_check, self.security_scan,
                self.feasibility_assessment, self.resource_requirements]

    @property
    def overall(self) -> Status:
        return worst_status(c.status for c in self._checks())

    @property
    def ok(self) -> bool:
        """True unless a check failed (the task may still need a review)."""
        return self.overall is not Status.FAILED

    def errors(self) -> list[str]:
        """One line per failure, in check order (the CLI prints the first and exits 2)."""
        return [m for c in self._checks() for m in c.failures]

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": str(self.overall),
            "description_check": self.description_check.to_json(),
            "requirements_check": self.requirements_check.to_json(),
            "security_scan": self.security_scan.to_json(),
            "feasibility_assessment": self.feasibility_assessment.to_json(),
            "resource_requirements": self.resource_requirements.to_json(),
            "findings": [f.to_json() for f in self.findings],
        }


MAX_REQUIREMENT_LENGTH = 200
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_RESOURCE_UNITS = {"cpu_cores": "CPU cores", "memory_mb": "MB of memory", "storage_gb": "GB of storage",
                   "gpu_memory_mb": "MB of GPU memory"}


def _num(value: float) -> str:
    return f"{value:g}"


def _check_description(text: str, min_len: int, max_len: int) -> CheckResult:
    c = _Collector()
    stripped = (text or "").strip()
    if not stripped:
        c.add(Status.FAILED, "description is empty")
        return c.result()
    if len(stripped) < min_len:
        c.add(Status.FAILED, f"description is too short: {len(stripped)} characters, at least {min_len}")
    if len(stripped) > max_len:
        c.add(Status.FAILED, f"description is too long: {len(stripped)} characters, at most {max_len}")
    if _CONTROL_RE.search(stripped):
        c.add(Status.FAILED, "description contains control characters")
    visible = [ch.lower() for ch in stripped if not ch.isspace()]
    if not any(ch.isalpha() for ch in visible) or len(set(visible)) == 1:
        c.add(Status.WARNING, "description is not meaningful: no words, only punctuation or one repeated character")
    return c.result()


def _check_requirements(requirements: Sequence[str], max_count: int) -> CheckResult:
    c = _Collector()
    if len(requirements) > max_count:
        c.add(Status.FAILED, f"too many requirements: {len(requirements)}, at most {max_count}")
    seen: dict[str, int] = {}
    for i, req in enumerate(requirements, 1):
        text = (req or "").strip()
        if not text:
            c.add(Status.FAILED, f"requirement {i} is empty")
            continue
        if len(text) > MAX_REQUIREMENT_LENGTH:
            c.add(Status.FAILED,
                  f"requirement {i} is too long: {len(text)} characters, at most {MAX_REQUIREMENT_LENGTH}")
        if _CONTROL_RE.search(text):
            c.add(Status.FAILED, f"requirement {i} contains control characters")
        key = " ".join(text.lower().split())
        if key in seen:
            shown = text if len(text) <= 60 else text[:59] + "…"
            c.add(Status.WARNING, f"requirement {i} repeats requirement {seen[key]} ({shown!r})")
        else:
            seen[key] = i
    return c.result()


def _check_security(findings: list[Finding]) -> CheckResult:
    c = _Collector()
    for f in sorted(findings, key=lambda f: -f.severity.rank):
        c.add(f.severity.status, f.line())
    return c.result()


def _check_feasibility(estimated: float | None, deadline: float | None, now: float) -> CheckResult:
    c = _Collector()
    if deadline is None:
        return c.result()
    remaining = deadline - now
    if remaining <= 0:
        c.add(Status.FAILED, f"the deadline is in the past ({human_duration(remaining)} ago)")
    elif estimated is not None and estimated > remaining:
        c.add(Status.WARNING, f"the deadline leaves {human_duration(remaining)} but the plan is estimated to take "
                              f"{human_duration(estimated)}")
    return c.result()


def _check_resources(resources: Mapping[str, float | None], limits: Mapping[str, float]) -> ResourceEstimate:
    # A resource without a configured limit is recorded but not checked.
    c = _Collector()
    requested = {k: float(v) for k, v in resources.items() if v is not None}
    for key, value in requested.items():
        unit = _RESOURCE_UNITS.get(key, key)
        limit = limits.get(f"max_{key}")
        if value < 0:
            c.add(Status.FAILED, f"{key} must not be negative: the plan asks for {_num(value)}")
        elif limit is not None and value > limit:
            c.add(Status.FAILED, f"{key}: the plan asks for {_num(value)} {unit} but the limit is {_num(limit)} "
                                 f"(max_{key})")
    return c.estimate(requested, {k: float(v) for k, v in limits.items()})


def validate_task(
    description: str,
    requirements: list[str],
    steps: list[tuple[str, str]],
    *,
    estimated_duration: float | None,
    deadline: float | None,
    now: float,
    resources: dict[str, float],
    limits: dict[str, float],
    max_description_length: int = 2000,
    min_description_length: int = 3,
    max_requirements: int = 50,
) -> TaskValidation:
    """Run every phase-1 check; nothing is raised, the result says what failed (see `errors()`)."""
    findings = scan_text(description or "", "description")
    for i, req in enumerate(requirements, 1):
        findings.extend(scan_text(req or "", f"requirement {i}"))
    findings.extend(scan_plan_steps(steps))
    return TaskValidation(
        description_check=_check_description(description, min_description_length, max_description_length),
        requirements_check=_check_requirements(requirements, max_requirements),
        security_scan=_check_security(findings),
        feasibility_assessment=_check_feasibility(estimated_duration, deadline, now),
        resource_requirements=_check_resources(resources, limits),
        findings=findings,
    )
