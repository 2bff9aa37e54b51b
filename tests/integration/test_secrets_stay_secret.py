"""Secrets stay secret (issue 12 item 11): a task uses planted secrets everywhere — its
description, a command, `env:`, printed output (a shell and a Python step), a failure
reason, a notification hook — and afterwards no file of the data home (database, WAL,
logs, daemon.log, archives unpacked) and no hook holds one in clear."""

from __future__ import annotations

import json
import os
import stat
import sys
import tarfile
from pathlib import Path

import pytest

from agent_agency_cli.security.masking import Masker
from agent_agency_cli.security.vault import SECRETS_FILE, collect_secrets

# Assembled at run time so the test file itself holds none of them whole.
PASSWORD = "Correct-" + "Horse-Battery-77"  # no known shape: only its env name says it is secret
AWS_ID = "AKIA" + "QWERTYUIOP123456"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCY1234567890"
GH_TOKEN = "ghp_" + "a1B2c3D4e5" * 4
PEM_BODY = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + "x" * 10,
            "Qm9ndXMga2V5IG1hdGVyaWFsIGZvciBhIHRlc3Qgb25seS4gTm90" + "y" * 10,
            "IHJlYWwuIFRoaXMgbGluZSBpcyBmaWxsZXIgdGV4dCBmb3IgdGhl" + "z" * 10]
PEM = "\n".join(["-----BEGIN PRIVATE KEY-----", *PEM_BODY, "-----END PRIVATE KEY-----"])
PLANTED = [PASSWORD, AWS_ID, AWS_SECRET, GH_TOKEN, *PEM_BODY]

HELPER = '''
import os

def leak(ctx):
    print("python sees", ctx.env["DB_PASSWORD"], ctx.env["AWS_SECRET_ACCESS_KEY"])
    print(ctx.env["PRIVATE_KEY"])
    raise RuntimeError("login failed for password " + ctx.env["DB_PASSWORD"])
'''


def _plan() -> str:
    env = {"DB_PASSWORD": PASSWORD, "AWS_ACCESS_KEY_ID": AWS_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
           "PRIVATE_KEY": PEM}
    return json.dumps({"steps": [
        {"name": "shell", "env": env,
         "run": (f'echo "token {GH_TOKEN} id $AWS_ACCESS_KEY_ID"; echo "$AWS_SECRET_ACCESS_KEY"; '
                 'echo "pw=$DB_PASSWORD"; printf "%s\\n" "$PRIVATE_KEY"; echo "$DB_PASSWORD" >&2')},
        {"name": "python", "needs": ["shell"], "env": env, "python": "leak_steps:leak"},
    ]})


def _home_texts(home: Path) -> dict[str, bytes]:
    """Every file of the home as bytes; archives unpacked member by member."""
    out: dict[str, bytes] = {}
    for path in home.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        rel = str(path.relative_to(home))
        if path.name.endswith(".tar.gz"):
            with tarfile.open(path, "r:gz") as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        out[f"{rel}!{member.name}"] = tar.extractfile(member).read()  # type: ignore[union-attr]
        else:
            out[rel] = path.read_bytes()
    return out


def _holding(texts: dict[str, bytes]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, data in texts.items():
        hits = [s[:6] + "…" for s in PLANTED if s.encode() in data]
        if hits:
            found[name] = hits
    return found


@pytest.mark.timeout(120)
def test_no_planted_secret_is_stored_logged_archived_or_sent_in_clear(cli, home: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(_plan())
    (tmp_path / "leak_steps.py").write_text(HELPER)
    hook_out = tmp_path / "hook.json"
    (home / "config.yaml").write_text(json.dumps({"notifications": {"hooks": [
        {"events": ["*"], "command": f"{sys.executable} -c \"import sys; open({str(hook_out)!r}, 'a')"
                                     f".write(sys.stdin.read())\""}]}}))
    res = cli("task", "create", "--plan", str(plan),
              "--description", f"Rotate the key {GH_TOKEN} and the password {PASSWORD}")
    assert res.returncode == 0, res.stdout + res.stderr
    tid = res.stdout.split()[0]
    assert "awaits a council review" in res.stderr  # a task holding secrets is reviewed first
    review = cli("task", "review", tid, "--approve", "--reason", "planted on purpose")
    assert review.returncode == 0, review.stderr
    assert cli("daemon", "start").returncode == 0
    watch = cli("task", "watch", tid, "--plain")
    assert watch.returncode == 1, watch.stdout + watch.stderr  # the python step fails, as planned
    for out in (res, review, watch):
        for s in PLANTED:
            assert s not in out.stdout + out.stderr

    status = cli("task", "status", tid, "--json", "--verbose")
    assert status.returncode == 0
    assert "RuntimeError: login failed for password" in status.stdout  # the reason is there, masked
    logs = cli("task", "logs", tid)
    assert "python sees" in logs.stdout and "****" in logs.stdout
    events = cli("task", "events", tid, "--json")
    for out in (status.stdout, logs.stdout, events.stdout):
        for s in PLANTED:
            assert s not in out

    assert cli("daemon", "stop").returncode == 0
    hook = hook_out.read_text()
    assert '"task_failed"' in hook
    assert not [s for s in PLANTED if s in hook], "a hook received a secret"

    # While the task may be retried, its secrets live in one private file only.
    vault = home / "tasks" / tid / SECRETS_FILE
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    assert set(_holding(_home_texts(home))) == {str(vault.relative_to(home))}
    db = (home / "agency.db").read_bytes() + (home / "agency.db-wal").read_bytes() \
        if (home / "agency.db-wal").exists() else (home / "agency.db").read_bytes()
    assert b"login failed for password" in db  # the reason was stored, only masked

    # Archived, it will never run again: the secrets go, and the archive holds none.
    assert cli("task", "archive", tid).returncode == 0
    texts = _home_texts(home)
    assert any(name.endswith("metadata.json") for name in texts)
    assert _holding(texts) == {}
    assert not vault.exists()


def test_the_task_masker_knows_env_values_bare_keys_and_key_blocks() -> None:
    masker = Masker(collect_secrets([], [{"env": {"DB_PASSWORD": PASSWORD, "PRIVATE_KEY": PEM, "DEBUG": "1"}}]))
    assert PASSWORD not in masker(f"connecting with {PASSWORD}")
    assert masker("DEBUG is 1") == "DEBUG is 1"  # short, non-secret env values are left alone
    assert AWS_SECRET not in masker(f"the secret is {AWS_SECRET}")  # bare, no name beside it
    stream = Masker().stream()  # a key nobody declared, printed line by line
    shown = [stream(line) for line in PEM.splitlines()]
    assert not [s for s in PEM_BODY if any(s in line for line in shown)]
    assert stream("after the key") == "after the key"


def test_stored_steps_hold_placeholders_and_the_step_sees_the_values(cli, tmp_path: Path) -> None:
    plan = tmp_path / "p.json"
    plan.write_text(json.dumps({"steps": [{"name": "a", "env": {"API_TOKEN": PASSWORD, "EXPECTED": PASSWORD},
                                           "run": 'test "$API_TOKEN" = "$EXPECTED"'}]}))
    res = cli("task", "create", "--plan", str(plan), "--foreground", "--description", "placeholder check")
    assert res.returncode == 0, res.stderr  # the step saw the real value
    tid = res.stdout.split()[0]
    out = cli("task", "status", tid, "--json", "--verbose").stdout
    assert PASSWORD not in out
    import sqlite3

    conn = sqlite3.connect(Path(os.environ["AGENT_AGENCY_HOME"]) / "agency.db")
    spec = json.loads(conn.execute("SELECT spec FROM steps WHERE task_id = ?", (tid,)).fetchone()[0])
    conn.close()
    assert spec["env"] == {"API_TOKEN": "⟦secret:0⟧", "EXPECTED": "⟦secret:0⟧"}
    # completed: nothing will run again, so the vault is gone
    assert not (Path(os.environ["AGENT_AGENCY_HOME"]) / "tasks" / tid / SECRETS_FILE).exists()


def test_a_gate_gets_the_secrets_and_its_evidence_holds_none(cli, home: Path, tmp_path: Path) -> None:
    gate = {"type": "functional_test",
            "command": ["sh", "-c", f'echo "gate sees $DB_PASSWORD"; test "${{#DB_PASSWORD}}" -eq {len(PASSWORD)}']}
    plan = tmp_path / "g.json"
    plan.write_text(json.dumps({"steps": [{"name": "g", "run": "true", "gates": [gate],
                                           "env": {"DB_PASSWORD": PASSWORD}}]}))
    res = cli("task", "create", "--plan", str(plan), "--foreground", "--description", "gate check")
    assert res.returncode == 0, res.stdout + res.stderr  # the gate saw the real value
    evidence = [p for p in (home / "tasks").rglob("gates/**/*") if p.is_file()]
    assert any(b"gate sees" in p.read_bytes() for p in evidence)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in evidence if p.suffix == ".log")
    assert _holding(_home_texts(home)) == {}



def test_a_failed_task_keeps_its_secrets_for_retry(cli, home: Path, tmp_path: Path) -> None:
    mark = tmp_path / "ready"
    plan = tmp_path / "r.json"
    plan.write_text(json.dumps({"steps": [{"name": "r", "env": {"API_TOKEN": PASSWORD, "MARK": str(mark)},
                                           "run": 'test -f "$MARK" && test "${#API_TOKEN}" -eq '
                                                  + str(len(PASSWORD))}]}))
    res = cli("task", "create", "--plan", str(plan), "--foreground", "--description", "retry check")
    assert res.returncode == 1  # not ready yet
    tid = res.stdout.split()[0]
    assert (home / "tasks" / tid / SECRETS_FILE).exists()
    mark.write_text("")
    assert cli("task", "retry", tid).returncode == 0
    watch = cli("task", "watch", tid, "--plain")
    assert watch.returncode == 0, watch.stdout + watch.stderr  # the retry saw the real value
    assert not (home / "tasks" / tid / SECRETS_FILE).exists()  # completed: the secrets went
