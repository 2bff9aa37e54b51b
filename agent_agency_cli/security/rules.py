"""The scanner's rule table: one data table of regular expressions, for findings and
for the council's consequential commands alike.

Command rules run on the command as the shell would see it (continuations joined,
quotes and escapes removed, variables assigned earlier in the text substituted,
single-character globs such as `/[e]tc` resolved: see `security.shell`); secret rules
run on the raw text. Rows of category `consequential` are not findings: they are
allowed work that reaches outside the machine, and only raise the task's risk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent_agency_cli.models import Level

__all__ = ["COMMAND_RULES", "CONSEQUENTIAL_RULES", "RULES", "SECRET_RULES", "Category", "Rule", "Severity"]

Severity = Level  # a finding's severity is the shared low < medium < high < critical ranking


class Category(StrEnum):
    DESTRUCTIVE = "destructive"
    REMOTE_EXEC = "remote_exec"
    SYSTEM_WRITE = "system_write"
    PRIVILEGE = "privilege"
    EXFILTRATION = "exfiltration"
    SECRET = "secret"
    CONSEQUENTIAL = "consequential"  # allowed, but raises the risk level (council)


class LazyPattern:
    """A regular expression compiled on first use; otherwise it acts as the re.Pattern.

    The table has about a hundred expressions and every process that opens a store
    imports it (masking): compiling them all at import cost a read command several
    times its own work, and most processes use a few of them or none.
    """

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0):
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def __getattr__(self, name: str) -> Any:  # search, finditer, groupindex, ...
        if name.startswith("_"):  # a slot not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.compiled(), name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyPattern):
            return (self.pattern, self.flags) == (other.pattern, other.flags)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, {self.flags})"


@dataclass(frozen=True)
class Rule:
    """One scanner rule. Secret rules may name a group `s`: only that part is masked.

    `whole_text` rules see the whole command text with its lines joined (a fork bomb
    written over several lines); the others see one line at a time."""

    id: str
    category: Category
    severity: Level
    pattern: re.Pattern[str] | LazyPattern
    message: str
    whole_text: bool = False

    @property
    def level(self) -> Level:
        return self.severity

    @property
    def reason(self) -> str:
        return self.message


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
_NOT_PART = r"(?<![\w.-])"
_WORD = _NOT_PART  # the command word is not part of a longer word (`sudo-utils`, `x.rm`)
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
_SHELL = r"(?:[^\s;&|]*/)?(?:busybox\s+)?(?:ba|z|k|da|fi|a|mk|y|c|tc)?sh"
# An interpreter that reads its program from stdin: a shell (optionally `-s …` / `-i` / `-`),
# python/perl/ruby/node/php with no script, or an unknown `$VAR` (`S=sh; … | $S`).
_INTERP = (
    r"(?:" + _SHELL + r"(?:\s+-[a-z]*s[a-z]*(?=\s|$)[^;&|\n]*|\s+-[a-z]*)?" + _END
    + r"|(?:[^\s;&|]*/)?(?:python[\d.]*|pypy[\d.]*|perl|ruby|node|nodejs|php|lua|tclsh|osascript|pwsh)(?:\s+-)?"
    r"\s*(?=[;&|)`]|$)|\$\{?\w+\}?" + _END + ")"
)
_OPTS = r"(?:\s+-\S+)*"
# After `| `: optional sudo/env wrappers and VAR=value words, then an interpreter.
_INTO_SHELL = r"\s*(?:(?:sudo|doas|env|command|exec)" + _OPTS + r"\s+)*(?:[A-Za-z_]\w*=[^\s;&|]*\s+)*" + _INTERP


def _pipeline_into(target: str) -> str:
    """The rest of a pipeline up to a `|` followed by `target` (at most 20 stages).

    Possessive segments keep it linear on long lines; URLs of any length fit.
    """
    return r"[^\n;&|]*+(?:\|(?!" + target + r")[^\n;&|]*+){0,20}\|" + target

# Secret values of a generic assignment: quoted (6+ characters) or unquoted (6+ with a
# non-letter, or 12+ letters); never a reference or a run of one character.
_VALUE = (
    r"(?P<q>[\"'])?(?![$<%{*⟦])(?![^\s\"']{0,200}\*\*\*\*)(?!(?P<rep>[^\s\"'])(?P=rep)+(?:[\"'\s,;]|$))"
    r"(?P<s>(?(q)[^\"'\n]{6,}(?=[\"'])|(?:(?=[^\s\"'<>;&|,]*[^A-Za-z\s\"'<>;&|,])[^\s\"'<>;&|,]{6,}"
    r"|[A-Za-z]{12,}(?![^\s\"'<>;&|,]))))"
)


def _r(rule_id: str, category: Category, severity: Level, pattern: str, message: str, flags: int = _I | _M,
       *, whole_text: bool = False) -> Rule:
    return Rule(rule_id, category, severity, LazyPattern(pattern, flags), message, whole_text)


_D, _R, _W, _P, _S, _X, _C = (Category.DESTRUCTIVE, Category.REMOTE_EXEC, Category.SYSTEM_WRITE,
                              Category.PRIVILEGE, Category.SECRET, Category.EXFILTRATION, Category.CONSEQUENTIAL)
_LOW, _MED, _HIGH, _CRIT = Level.LOW, Level.MEDIUM, Level.HIGH, Level.CRITICAL

RULES: tuple[Rule, ...] = (
    # -- destructive ----------------------------------------------------------------
    _r("rm-root", _D, _CRIT, _RM_RECURSIVE + r"(?:/|~/?|\$\{?HOME\}?/?)\*?" + _END,
       "recursive delete of the root or home directory (rm -rf /)"),
    _r("rm-system-dir", _D, _CRIT, _RM_RECURSIVE + rf"/{_TOP}/?\*?" + _END,
       "recursive delete of a top-level system directory (rm -rf /etc)"),
    _r("rm-unset-variable", _D, _MED, _RM_RECURSIVE + r"\$\{?\w+\}?/?\*?" + _END,
       "recursive delete of a path held in a variable that may be empty or `/` (rm -rf $DIR/); use ${DIR:?}/"),
    _r("find-root-delete", _D, _CRIT,
       _NOT_PART + rf"find\s+(?:-\S+\s+)*(?:/|~/?|\$\{{?HOME\}}?/?|/{_TOP}/?)\s" + _ARGS
       + r"(?:-delete|-exec\s+(?:\S*/)?(?:rm|shred)|-execdir\s+(?:\S*/)?rm)\b",
       "deleting everything found under the root, home or a system directory (find / -delete)"),
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
       "fork bomb (:(){ :|:& };:)", whole_text=True),
    _r("fork-loop", _D, _CRIT, r"\bfork\s+while\s+fork\b|\bwhile\s+(?:true|1)\s*:\s*os\.fork\(\)",
       "fork bomb loop (fork while fork)"),
    # -- remote code execution -------------------------------------------------------
    _r("pipe-to-shell", _R, _HIGH, _NOT_PART + r"(?:curl|wget|fetch|aria2c)\b" + _pipeline_into(_INTO_SHELL),
       "piping a download into a shell or interpreter (curl … | sh)"),
    _r("decoded-payload", _R, _HIGH,
       _NOT_PART + r"(?:base64\s" + _ARGS + r"(?:-\w*d\b|--decode)|xxd\s" + _ARGS + r"-\w*r|openssl\s+(?:enc|base64)\b"
       + _ARGS + r"\s-d\b|printf|echo\s+-e|rev|gunzip|zcat|uudecode)\b" + _pipeline_into(_INTO_SHELL),
       "running a decoded or generated payload (base64 -d | sh)"),
    _r("eval-decoded", _R, _HIGH,
       _NOT_PART + r"eval\b[^\n]{0,400}?\b(?:base64\s+(?:-\w*d\b|--decode)|xxd\s+-r|curl|wget)\b",
       "evaluating a decoded payload or a download (eval $(… base64 -d))"),
    _r("reverse-shell", _R, _CRIT,
       r"/dev/(?:tcp|udp)/[^\s/]+/\d+|" + _NOT_PART + r"(?:nc|ncat|netcat|nc\.traditional)(?=\s)" + _ARGS
       + r"\s-\w*[ec]\s|" + _NOT_PART + r"socat\s" + _ARGS + r"\bexec:|" + _NOT_PART
       + r"mkfifo\s[^\n]{0,400}?\b(?:nc|ncat|netcat|openssl\s+s_client)\s"
       + r"|socket\.socket\([^\n]{0,400}?(?:dup2|pty\.spawn|subprocess|/bin/(?:ba)?sh)",
       "reverse shell: a shell wired to a network connection (nc -e, /dev/tcp)"),
    _r("shell-substitution-download", _R, _HIGH,
       _NOT_PART + r"(?:(?:ba|z|k|da|a)?sh|source|eval|\.|python[\d.]*|perl|ruby|node)(?:\s+-\S+)*\s+"
       r"(?:<\(|\$\()\s*(?:curl|wget|fetch)\b[^\n;&]*",
       "running a download through process substitution (bash <(curl …))"),
    _r("pip-install-url", _R, _MED,
       _NOT_PART + r"(?:pip[\d.]*|uv\s+pip|python[\d.]*\s+-m\s+pip)\s+install\b" + _ARGS
       + r"(?<=[\s=])(?:git\+|hg\+|svn\+|bzr\+)?(?:https?|ftp)://\S+",
       "installing a package straight from a URL, bypassing the index (pip install https://…)"),
    _r("powershell-download-exec", _R, _HIGH,
       r"\b(?:iwr|irm|invoke-webrequest|invoke-restmethod|curl|wget)\b"
       + _pipeline_into(r"\s*(?:iex|invoke-expression)\b")
       + r"|\b(?:iex|invoke-expression)\b[^\n]{0,400}?"
       r"\b(?:downloadstring|iwr|irm|invoke-webrequest|invoke-restmethod)\b",
       "running a download with PowerShell (irm … | iex)"),
    _r("python-rmtree-root", _D, _CRIT,
       r"shutil\.rmtree\(\s*(?:(?:/|/" + _TOP + r"/?)\s*[,)]|[^)\n]{0,200}?(?:expanduser\(\s*~|Path\.home\(\)"
       r"|environ[^)\n]{0,20}?HOME|getenv\(\s*HOME))",
       "deleting the root, home or a system directory from Python (shutil.rmtree('/'))"),
    _r("xargs-rm-root", _D, _CRIT,
       _NOT_PART + r"(?:echo|printf|ls|find|cat)\s(?=[^\n;&|]{0,400}?(?<=\s)(?:/|~/?|\$\{?HOME\}?/?|/" + _TOP
       + r"/?)\*?(?=[\s|]))[^\n;&|]{0,400}+\|\s*xargs\b" + _ARGS + r"\brm\s+" + _ARGS + r"-\w*r",
       "feeding the root, home or a system directory to xargs rm -r"),
    _r("shred-home", _D, _HIGH,
       _NOT_PART + r"(?:shred|srm|wipe)\s" + _ARGS + r"(?<=\s)(?:~|\$\{?HOME\}?|/home/|/root\b|/Users/|"
       + _SYS_PATH + r")",
       "destroying files in a home or system directory beyond recovery (shred ~/…)"),
    # -- writes to system paths -------------------------------------------------------
    _r("truncate-system-path", _W, _HIGH, _NOT_PART + r"truncate\s" + _ARGS + r"(?<=\s)" + _SYS_PATH,
       "truncating a system file (truncate /etc/shadow)"),
    _r("chown-root", _W, _CRIT,
       _NOT_PART + r"(?:chown|chgrp)(?=" + _ARGS + r"\s(?:-\w*R\w*|--recursive)" + _END + r")\s"
       + _ARGS + r"(?<=\s)(?:/|~/?|\$\{?HOME\}?/?|/" + _TOP + r"/?)\*?" + _END,
       "recursively changing the owner or mode of the root, home or a system directory (chown -R … /)"),
    _r("authorized-keys", _P, _HIGH,
       r"(?:" + _REDIRECT + r"|" + _NOT_PART + r"(?:tee|cp|mv|install|ln)\s" + _ARGS + r"(?<=\s))"
       r"[^\s;&|]*(?:authorized_keys2?|\.ssh/rc|sudoers)\b",
       "adding an SSH key or sudo rule (>> ~/.ssh/authorized_keys): lasting access to this machine"),
    _r("exfiltrate-keys", _X, _HIGH,
       r"^(?=[^\n]*?(?<![\w.-])(?:curl|wget|nc|ncat|netcat|scp|rsync|sftp|ftp|socat|telnet)\b)[^\n]*?"
       r"(?:\.ssh/(?:id_[a-z0-9]+(?!\.pub)|identity)|\.aws/credentials|\.netrc|\.git-credentials|\.kube/config"
       r"|\.docker/config\.json|\.gnupg\b|/etc/shadow|\.pgpass|\.pypirc)(?![\w-])",
       "sending keys or credentials off the machine (curl -d @~/.ssh/id_rsa)"),
    _r("exfiltrate-env", _X, _HIGH,
       _NOT_PART + r"(?:env|printenv|set|export\s+-p|declare\s+-x)\s*" + _pipeline_into(
           r"\s*(?:[^\s;&|]*/)?(?:curl|wget|nc|ncat|netcat|socat|telnet)\b")
       + r"|" + _NOT_PART + r"(?:curl|wget|nc|ncat)\b[^\n]{0,400}?\$\(\s*(?:env|printenv|set)\s*\)",
       "sending the environment (and the secrets in it) off the machine (env | curl …)"),
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
       r"(?i:(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,30}://)[^\s:/@\"']+:(?P<s>(?![$<{*⟦])[^\s@/\"']{3,})@",
       "password in a URL", _M),
    _r("secret-flag", _S, _HIGH,
       r"(?i:--(?:password|passwd|token|api-key|secret))\s+(?P<s>(?![$<%{*\"'⟦-])[^\s;&|]{4,})",
       "secret passed as a command-line flag", _M),
    _r("secret-assignment", _S, _HIGH,
       r"(?i:(?<![a-z0-9])(?:password|passwd|passphrase|secret|api[_-]?key|apikey|access[_-]?token"
       r"|auth[_-]?token|access[_-]?key|token|client[_-]?secret|secret[_-]?key|private[_-]?key))"
       r"[\"']?\s*[:=]\s*" + _VALUE,
       "secret assigned in plain text (password=…)", _M),
    # -- consequential: allowed work that reaches outside the machine (council risk only) --
    # A command that matches a specific row (git push --force) also matches the general one.
    _r("git-force-push", _C, _HIGH,
       _WORD + r"git\s+push\b" + _ARGS + r"(?:\s--force\b|\s-f\b|\s--force-with-lease\b|\s\+\S)",
       "force-pushes to a git remote, which can overwrite shared history"),
    _r("git-push", _C, _MED,
       _WORD + r"git\s+push\b",
       "pushes commits to a git remote"),
    _r("git-discard", _C, _MED,
       _WORD + r"git\s+(?:reset\s+--hard|clean\s+-\w*f)",
       "discards local changes (git reset --hard / git clean)"),
    _r("container-privileged", _C, _HIGH,
       _WORD + r"(?:docker|podman)\s+(?:run|create)\b" + _ARGS + r"--privileged",
       "runs a privileged container"),
    _r("container-push", _C, _MED,
       _WORD + r"(?:docker|podman)\s+push\b",
       "pushes a container image to a registry"),
    _r("container-run", _C, _MED,
       _WORD + r"(?:docker|podman)(?:\s+compose|-compose)?\s+(?:run|up|down|rm|rmi|kill|stop|exec|build|start"
          r"|system\s+prune|volume\s+rm|network\s+rm)\b",
       "runs or changes containers (docker)"),
    _r("kubectl-delete", _C, _HIGH,
       _WORD + r"kubectl\s+(?:delete|drain|cordon)\b",
       "deletes or drains Kubernetes resources"),
    _r("kubectl-change", _C, _MED,
       _WORD + r"kubectl\s+(?:apply|create|replace|patch|scale|rollout|set|edit|label|annotate)\b",
       "changes a Kubernetes cluster (kubectl apply)"),
    _r("helm-change", _C, _MED,
       _WORD + r"helm\s+(?:install|upgrade|uninstall|delete|rollback)\b",
       "changes a Helm release"),
    _r("terraform-destroy", _C, _HIGH,
       _WORD + r"(?:terraform|tofu)\s+(?:destroy\b|apply\b" + _ARGS + r"\s-destroy\b)",
       "destroys infrastructure (terraform destroy)"),
    _r("infra-apply", _C, _HIGH,
       _WORD + r"(?:terraform|tofu)\s+apply\b|pulumi\s+(?:up|destroy)\b",
       "changes real infrastructure (terraform apply)"),
    _r("package-publish", _C, _MED,
       _WORD + r"(?:(?:npm|yarn|pnpm)\s+publish|twine\s+upload|cargo\s+publish|gem\s+push|(?:poetry|uv|flit|hatch)"
          r"\s+publish)\b",
       "publishes a package to a registry (npm publish)"),
    _r("remote-host", _C, _MED,
       _WORD + r"(?:ssh|scp|sftp)\s|" + _WORD + r"rsync\s" + _ARGS + r"\s(?:[\w.-]+@)?[\w.-]+:(?!//)",
       "connects to a remote host (ssh / scp / rsync)"),
    _r("cloud-cli", _C, _MED,
       _WORD + r"(?:aws|gcloud|az|doctl)\s+[a-z]",
       "calls a cloud provider's CLI"),
    _r("service-control", _C, _MED,
       _WORD + r"(?:systemctl|service)\s+(?:\S+\s+)?(?:start|stop|restart|reload|enable|disable|mask)\b",
       "starts, stops or reconfigures system services"),
    _r("sql-drop", _C, _HIGH,
       r"\b(?:drop\s+(?:table|database|schema)|truncate\s+table)\b",
       "drops or truncates database objects"),
    _r("sql-delete-all", _C, _HIGH,
       r"\bdelete\s+from\s+\w+(?![^;\n]{0,1000}?\bwhere\b)",
       "deletes every row of a table (DELETE without WHERE)"),
    _r("curl-send", _C, _MED,
       _WORD + r"curl\s" + _ARGS + r"(?:-X\s*(?:POST|PUT|PATCH|DELETE)\b|\s(?:-d|--data\S*|-F|--form)\s)",
       "sends data to a remote service (curl -X POST)"),
)

SECRET_RULES: tuple[Rule, ...] = tuple(r for r in RULES if r.category is Category.SECRET)
CONSEQUENTIAL_RULES: tuple[Rule, ...] = tuple(r for r in RULES if r.category is Category.CONSEQUENTIAL)
COMMAND_RULES: tuple[Rule, ...] = tuple(r for r in RULES if r not in SECRET_RULES and r not in CONSEQUENTIAL_RULES)
