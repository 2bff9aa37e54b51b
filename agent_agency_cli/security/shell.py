"""Reading a command as a shell does, for the scanner.

Two products:

* `normalize_command` / `expand_command`: the text the shell would run, as one string
  per line — continuations joined, quotes and escapes removed, `${IFS}` a space,
  variables assigned earlier in the text (`S=sh; … | $S`, `export T=/`) substituted,
  single-character globs (`/[e]tc`) resolved. The regex rules run on this.
* `structure_findings`: what only the sequence of commands shows — a file that a
  download wrote and a later command runs (`curl -o f URL; sh f`), a script run from a
  fresh `git clone` — and the programs nested in `sh -c '…'`, `bash -c`, `eval` and
  `su -c`, which the scanner scans again as commands of their own.

Tokenising is `shlex` (POSIX rules, with `;&|()<>` and newlines as operators); text it
cannot tokenise (an unclosed quote) falls back to the regex view alone.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from dataclasses import dataclass, field

__all__ = ["ShellReading", "expand_command", "normalize_command", "read_shell"]

_ASSIGN = re.compile(r"^([A-Za-z_]\w*)=(.*)$", re.S)
_VAR_REF = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|([A-Za-z_]\w*))")
_GLOB_ONE = re.compile(r"\[([^\]\s!^])\]")  # /[e]tc -> /etc
_OPERATORS = frozenset({";", "&", "&&", "|", "||", "|&", "\n", "(", ")", ";;", "{", "}"})
_DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "http", "https"})
_INTERPRETERS = re.compile(
    r"^(?:(?:ba|z|k|da|fi|a|mk|y|c|tc)?sh|busybox|python[\d.]*|pypy[\d.]*|perl|ruby|node|nodejs|php|lua|source|\.)$")
_WRAPPERS = frozenset({"sudo", "doas", "env", "command", "exec", "nohup", "time", "nice", "timeout", "xargs"})
_NESTED_FLAGS = {"sh": "-c", "bash": "-c", "zsh": "-c", "dash": "-c", "ksh": "-c", "ash": "-c", "su": "-c",
                 "busybox": "-c"}
_MAX_VAR_LEN = 400


def normalize_command(text: str) -> str:
    """What the shell would see: continuations joined, ${IFS} as a space, escapes and quotes removed."""
    text = re.sub(r"\\\r?\n", "", text)  # backslash-newline joins the lines
    text = re.sub(r"\$\{?IFS\}?", " ", text)  # rm${IFS}-rf${IFS}/
    text = re.sub(r"\\(.)", r"\1", text)  # r\m -> rm
    text = text.replace('"', "").replace("'", "")  # rm "-rf" / -> rm -rf /
    return re.sub(r"[ \t\f\v]+", " ", text)


@dataclass
class _Command:
    words: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # redirect targets (> f, >> f)


@dataclass
class ShellReading:
    """What the tokeniser found: variables, nested programs and structural findings."""

    variables: dict[str, str] = field(default_factory=dict)
    nested: list[str] = field(default_factory=list)  # programs of sh -c / eval / su -c
    findings: list[tuple[str, str]] = field(default_factory=list)  # (rule id, excerpt)


def _tokens(text: str) -> list[str] | None:
    lex = shlex.shlex(re.sub(r"\\\r?\n", "", text), posix=True, punctuation_chars=";&|()<>\n")
    lex.whitespace_split = True
    lex.whitespace = " \t\r"
    lex.commenters = ""
    try:
        return list(lex)
    except ValueError:  # an unclosed quote: the regex view still applies
        return None


def _commands(tokens: list[str]) -> list[_Command]:
    out: list[_Command] = []
    cur = _Command()
    redirect_next = False
    for tok in tokens:
        if redirect_next:
            cur.outputs.append(tok)
            redirect_next = False
            continue
        if tok in _OPERATORS or (tok and set(tok) <= set(";&|()\n")):
            if cur.words or cur.outputs:
                out.append(cur)
            cur = _Command()
            continue
        if tok and set(tok) <= set("<>&|"):
            redirect_next = ">" in tok
            continue
        cur.words.append(tok)
    if cur.words or cur.outputs:
        out.append(cur)
    return out


def _base(word: str) -> str:
    return os.path.basename(word.rstrip("/")) or word


def _program(words: list[str]) -> tuple[str, list[str]]:
    """The command word past wrappers (sudo, env, VAR=x) and its arguments."""
    i = 0
    while i < len(words):
        w = words[i]
        if _ASSIGN.match(w) or _base(w) in _WRAPPERS or (i > 0 and w.startswith("-") and
                                                          _base(words[i - 1]) in _WRAPPERS):
            i += 1
            continue
        break
    if i >= len(words):
        return "", []
    return words[i], words[i + 1 :]


def _same_file(a: str, b: str) -> bool:
    a, b = a.removeprefix("./"), b.removeprefix("./")
    return bool(a) and (a == b or _base(a) == _base(b))


def _download_outputs(prog: str, args: list[str], redirects: list[str]) -> list[str]:
    name = _base(prog)
    files = list(redirects)
    for i, a in enumerate(args):
        if a in ("-o", "--output", "-O", "--output-document", "-P") and i + 1 < len(args) and not (
                name == "curl" and a == "-O"):
            files.append(args[i + 1])
        elif a.startswith(("--output=", "--output-document=")):
            files.append(a.split("=", 1)[1])
        elif a.startswith("-o") and len(a) > 2:
            files.append(a[2:])
    urls = [a for a in args if "://" in a]
    remote_name = any(a == "--remote-name" or (a.startswith("-") and not a.startswith("--") and "O" in a)
                      for a in args)
    if urls and (name == "wget" or remote_name):
        files.extend(_base(u.split("?", 1)[0]) for u in urls)  # saved under the URL's last part
    return [f for f in files if f and f != "-"]


def _runs_file(prog: str, args: list[str]) -> str | None:
    """The file a command executes, if any: `./f`, `sh f`, `python3 f`, `source f`."""
    if prog.startswith(("./", "/", "~/")) or ("/" in prog and not prog.startswith("-")):
        return prog
    if _INTERPRETERS.match(_base(prog)):
        rest = args[1:] if _base(prog) == "busybox" and args else args
        for a in rest:
            if a in ("-c", "-m", "-e"):
                return None
            if not a.startswith("-"):
                return a
    return None


# Only text with one of these can hold a variable, a nested program, a download or a clone:
# anything else skips the tokeniser.
_WORTH_READING = re.compile(r"=|curl|wget|fetch|aria2c|https?\b|git|eval|sh\b|\bsu\b|busybox")


def read_shell(text: str) -> ShellReading:
    """Tokenise `text` and collect variables, nested programs and structural findings."""
    if not _WORTH_READING.search(text):
        return ShellReading()
    return _read_shell(text)


@functools.lru_cache(maxsize=16384)  # the scanner and the council read the same commands
def _read_shell(text: str) -> ShellReading:
    reading = ShellReading()
    tokens = _tokens(text)
    if tokens is None:
        return reading
    downloaded: list[str] = []
    cloned: list[str] = []  # directories a `git clone` just wrote
    for cmd in _commands(tokens):
        words = cmd.words
        if words and all(_ASSIGN.match(w) for w in words):  # S=sh on its own: a shell variable
            for w in words:
                name, value = _ASSIGN.match(w).groups()  # type: ignore[union-attr]
                reading.variables[name] = value[:_MAX_VAR_LEN]
            continue
        if words and words[0] in ("export", "readonly", "declare", "local", "typeset"):
            for w in words[1:]:
                m = _ASSIGN.match(w)
                if m:
                    reading.variables[m.group(1)] = m.group(2)[:_MAX_VAR_LEN]
            continue
        words = [_substitute(w, reading.variables) for w in words]
        prog, args = _program(words)
        if not prog:
            continue
        name = _base(prog)
        flag = _NESTED_FLAGS.get(name)
        if flag and flag in args:
            i = args.index(flag)
            if i + 1 < len(args):
                reading.nested.append(args[i + 1])
        elif name == "eval" and args:
            reading.nested.append(" ".join(args))
        if name in _DOWNLOADERS:
            downloaded.extend(_download_outputs(prog, args, cmd.outputs))
            continue
        if name == "git" and args[:1] == ["clone"] and any("://" in a or "@" in a for a in args):
            plain = [a for a in args[1:] if not a.startswith("-")]
            url = next((a for a in plain if "://" in a or "@" in a), "")
            rest = plain[plain.index(url) + 1 :] if url in plain else []
            cloned.append(rest[0] if rest else _base(url).removesuffix(".git"))
            continue
        target = _runs_file(prog, args)
        if target is None:
            continue
        excerpt = " ".join(words)[:120]
        if any(_same_file(target, f) for f in downloaded):
            reading.findings.append(("download-then-run", excerpt))
        elif cloned and (not target.startswith("/") or any(target.startswith(d.rstrip("/") + "/") for d in cloned)):
            # running what was just cloned
            reading.findings.append(("clone-then-run", excerpt))
    return reading


def _substitute(text: str, variables: dict[str, str]) -> str:
    if "$" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name in variables:
            return variables[name]
        if m.group(2) is not None:  # ${X:-default}
            return m.group(2)
        return m.group(0)

    return _VAR_REF.sub(repl, text)


def expand_command(text: str, variables: dict[str, str] | None = None) -> str:
    """`normalize_command` with known variables substituted and one-character globs resolved."""
    out = _substitute(normalize_command(text), variables or {})
    return _GLOB_ONE.sub(r"\1", out)
