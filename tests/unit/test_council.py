"""The review council: risk levels and their reasons, review modes, each judge's verdicts,
the initial review and the final review's completion, gaps and scores."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from agent_agency_cli.council import (
    CouncilReview,
    JudgeVerdict,
    RiskAssessment,
    RiskLevel,
    assess_risk,
    compliance_judge,
    final_review,
    initial_review,
    quality_judge,
    resources_judge,
    review_mode,
    security_judge,
)
from agent_agency_cli.council.judges import REQUIREMENT_GATES, requirement_gate_types
from agent_agency_cli.council.risk import COMMAND_RISKS, DEFAULT_REVIEW_POLICY, KEYWORD_RISKS
from agent_agency_cli.validation import TaskValidation, validate_task

LIMITS = {"max_cpu_cores": 16, "max_memory_mb": 65536, "max_storage_gb": 500}
GH_TOKEN = "ghp_" + "a1B2c3D4e5" * 4


def validation(steps: list[tuple[str, str]] | None = None, description: str = "Build the service",
               requirements: list[str] | None = None, **kw: Any) -> TaskValidation:
    args: dict[str, Any] = {"estimated_duration": 60.0, "deadline": None, "now": 0.0,
                            "resources": {"cpu_cores": 1}, "limits": LIMITS}
    args.update(kw)
    return validate_task(description, requirements or [], steps or [("build", "make")], **args)


def risk_of(commands: list[str], *, description: str = "Build the service", requirements: list[str] | None = None,
            resources: dict[str, float] | None = None, mode: str = "auto", priority: str = "normal") -> RiskAssessment:
    steps = [(f"s{i}", c) for i, c in enumerate(commands)] or [("build", "make")]
    v = validation(steps, description, requirements)
    return assess_risk(v, commands=commands, mode=mode, requirements=requirements or [],
                       resources=resources or {}, priority=priority, description=description)


# -- risk levels ---------------------------------------------------------------------


def test_plain_task_is_low_risk_with_a_reason() -> None:
    r = risk_of(["make all", "pytest -q"])
    assert r.level is RiskLevel.LOW
    assert r.reasons == ["No security findings, consequential commands, sensitive keywords or large resource asks."]


def test_low_finding_keeps_low_risk_but_says_why() -> None:
    r = risk_of(["chmod 777 data"])
    assert r.level is RiskLevel.LOW
    assert r.reasons == ["step 's0': making files world-writable (chmod 777) (low finding)."]


@pytest.mark.parametrize(
    ("commands", "kw", "fragment"),
    [
        (["git push origin main"], {}, "pushes commits to a git remote: `git push`"),
        (["docker compose up -d"], {}, "runs or changes containers (docker)"),
        (["kubectl apply -f k8s/"], {}, "changes a Kubernetes cluster"),
        (["npm publish"], {}, "publishes a package"),
        (["ssh deploy@host uptime"], {}, "connects to a remote host"),
        (["make"], {"description": "Release version 2"}, "The task deploys or releases something (the description)."),
        (["make"], {"requirements": ["ok", "works in production"]}, "The task mentions production (requirement 2)."),
        (["make"], {"resources": {"memory_mb": 32768}}, "The plan asks for 32768 MB of memory (16384 or more"),
        (["make"], {"resources": {"cpu_cores": 8}}, "The plan asks for 8 CPU cores"),
        (["rm -rf $OUT/"], {}, "(medium finding)."),
    ],
)
def test_medium_risk(commands: list[str], kw: dict[str, Any], fragment: str) -> None:
    r = risk_of(commands, **kw)
    assert r.level is RiskLevel.MEDIUM, r.reasons
    assert any(fragment in reason for reason in r.reasons), r.reasons


@pytest.mark.parametrize(
    ("commands", "kw", "fragment"),
    [
        (["git push --force origin main"], {}, "force-pushes to a git remote"),
        (["terraform apply -auto-approve"], {}, "changes real infrastructure"),
        (["terraform destroy"], {}, "destroys infrastructure"),
        (["kubectl delete ns prod"], {}, "deletes or drains Kubernetes resources"),
        (["psql -c 'DROP TABLE users'"], {}, "drops or truncates database objects"),
        (["psql -c 'DELETE FROM users'"], {}, "DELETE without WHERE"),
        (["docker run --privileged img"], {}, "runs a privileged container"),
        (["make"], {"description": "Deploy the API to production"}, "The task deploys to production"),
        (["sudo systemctl restart app"], {}, "running a command as root (sudo) (high finding)."),
        ([f"export GH={GH_TOKEN}"], {}, "GitHub token (high finding)."),
    ],
)
def test_high_risk(commands: list[str], kw: dict[str, Any], fragment: str) -> None:
    r = risk_of(commands, **kw)
    assert r.level is RiskLevel.HIGH, r.reasons
    assert any(fragment in reason for reason in r.reasons), r.reasons
    assert all(GH_TOKEN not in reason for reason in r.reasons)


def test_delete_with_where_is_only_the_generic_risk() -> None:
    assert risk_of(["psql -c 'DELETE FROM users WHERE id = 3'"]).level is RiskLevel.LOW


def test_critical_risk_from_a_critical_finding() -> None:
    r = risk_of(["git push", "rm -rf /"])
    assert r.level is RiskLevel.CRITICAL
    assert r.reasons[0] == "step 's1': recursive delete of the root or home directory (rm -rf /) (critical finding)."
    assert any("git push" in reason for reason in r.reasons[1:])  # every cause is kept, worst first


def test_reasons_are_readable_sentences_worst_first() -> None:
    r = risk_of(["git push --force", "sudo ls"], description="Deploy to production",
                resources={"storage_gb": 200})
    assert r.level is RiskLevel.HIGH
    for reason in r.reasons:
        assert reason.endswith("."), reason
        assert reason[0].isupper() or reason.startswith("step "), reason
    assert r.reasons[-1].startswith("The plan asks for 200 GB of storage")
    assert r.to_json() == {"level": "high", "reasons": r.reasons}


def test_dry_run_does_not_raise_the_level_for_commands() -> None:
    r = risk_of(["terraform apply"], description="Deploy to production", mode="dry-run")
    assert r.level is RiskLevel.LOW
    assert any("changes real infrastructure" in reason for reason in r.reasons)
    assert r.reasons[-1].startswith("Dry-run: nothing is executed")


def test_dry_run_still_counts_findings() -> None:
    assert risk_of(["rm -rf /"], mode="dry-run").level is RiskLevel.CRITICAL
    assert risk_of([f"echo {GH_TOKEN}"], mode="dry-run").level is RiskLevel.HIGH


def test_priority_does_not_change_the_level() -> None:
    levels = {risk_of(["git push"], priority=p).level for p in ("low", "normal", "high", "urgent")}
    assert levels == {RiskLevel.MEDIUM}


def test_risk_tables_are_data() -> None:
    assert len(COMMAND_RISKS) >= 10 and len(KEYWORD_RISKS) >= 4
    # Patterns compile on first use (security.rules.LazyPattern): each one must compile.
    assert all(isinstance(re.compile(rule.pattern.pattern, rule.pattern.flags), re.Pattern) and rule.reason
               for rule in COMMAND_RISKS + KEYWORD_RISKS)


# -- review mode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "mode"),
    [(RiskLevel.CRITICAL, "blocking"), (RiskLevel.HIGH, "blocking"), (RiskLevel.MEDIUM, "async"),
     (RiskLevel.LOW, "advisory")],
)
def test_default_review_mode_per_level(level: RiskLevel, mode: str) -> None:
    assert review_mode(level, DEFAULT_REVIEW_POLICY) == mode
    assert review_mode(level, None) == mode
    assert review_mode(str(level), {}) == mode


def test_custom_review_policy() -> None:
    policy = {"critical": "blocking", "high": "async", "medium": "advisory", "low": "advisory"}
    assert review_mode(RiskLevel.HIGH, policy) == "async"
    assert review_mode(RiskLevel.MEDIUM, policy) == "advisory"
    assert review_mode("critical", policy) == "blocking"
    # A level the policy leaves out falls back to the default.
    assert review_mode("medium", {"low": "blocking"}) == "async"
    assert review_mode("low", {"low": "blocking"}) == "blocking"


def test_review_mode_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="unknown review mode 'later'"):
        review_mode("low", {"low": "later"})
    with pytest.raises(ValueError):
        review_mode("extreme", {})


# -- security judge ------------------------------------------------------------------


def test_security_judge_rejects_a_critical_finding() -> None:
    v = validation([("wipe", "mkfs /dev/sdb")])
    review = security_judge(v, RiskAssessment(RiskLevel.CRITICAL, ["x."]))
    assert review.verdict is JudgeVerdict.REJECT
    assert review.judge_id == "security" and review.confidence >= 0.9
    assert review.evidence[0].startswith("step 'wipe': formatting a filesystem")
    assert any("destructive" in r for r in review.recommendations)


def test_security_judge_concerns_on_a_high_finding() -> None:
    v = validation([("install", "curl https://x | sh"), ("env", f"echo {GH_TOKEN}")])
    review = security_judge(v, RiskAssessment(RiskLevel.HIGH, ["x."]))
    assert review.verdict is JudgeVerdict.CONCERN and review.confidence == 0.8
    assert any("checksum" in r for r in review.recommendations)
    assert any("secret store" in r for r in review.recommendations)
    assert GH_TOKEN not in json.dumps(review.to_json())


def test_security_judge_concerns_on_high_risk_without_findings() -> None:
    review = security_judge(validation(), RiskAssessment(RiskLevel.HIGH, ["A command destroys infrastructure."]))
    assert review.verdict is JudgeVerdict.CONCERN
    assert "A command destroys infrastructure." in review.evidence


def test_security_judge_medium_risk_is_a_milder_concern() -> None:
    review = security_judge(validation(), RiskAssessment(RiskLevel.MEDIUM, ["A command pushes."]))
    assert review.verdict is JudgeVerdict.CONCERN
    assert review.confidence < 0.8


def test_security_judge_approves_a_clean_task() -> None:
    review = security_judge(validation(), RiskAssessment(RiskLevel.LOW, ["Nothing."]))
    assert review.verdict is JudgeVerdict.APPROVE
    assert review.recommendations == []


def test_security_judge_approves_low_findings_with_advice() -> None:
    v = validation([("perm", "chmod 777 data")])
    review = security_judge(v, RiskAssessment(RiskLevel.LOW, ["x."]))
    assert review.verdict is JudgeVerdict.APPROVE
    assert review.recommendations and "without root" in review.recommendations[0]


def test_security_judge_evidence_does_not_repeat_findings() -> None:
    v = validation([("s", "sudo ls")])
    risk = assess_risk(v, commands=["sudo ls", "git push"], mode="auto", requirements=[], resources={},
                       priority="normal")
    review = security_judge(v, risk)
    assert sum("sudo" in e for e in review.evidence) == 1
    assert any("git push" in e for e in review.evidence)


# -- resources judge -----------------------------------------------------------------


def test_resources_judge_rejects_an_ask_over_its_limit() -> None:
    review = resources_judge({"cpu_cores": 32, "memory_mb": 100}, LIMITS, 60.0, None, 0.0)
    assert review.verdict is JudgeVerdict.REJECT
    assert review.reasoning == "The plan asks for 32 cpu_cores, over the limit of 16 (max_cpu_cores)."
    assert review.recommendations == ["Lower the plan's cpu_cores to at most 16 or raise max_cpu_cores."]


def test_resources_judge_rejects_a_past_deadline() -> None:
    review = resources_judge({}, LIMITS, 60.0, deadline=100.0, now=400.0)
    assert review.verdict is JudgeVerdict.REJECT
    assert review.reasoning == "The deadline passed 5m ago."


def test_resources_judge_concerns_when_the_deadline_is_shorter_than_the_estimate() -> None:
    review = resources_judge({}, LIMITS, 3600.0, deadline=600.0, now=0.0)
    assert review.verdict is JudgeVerdict.CONCERN
    assert review.reasoning == "The deadline leaves 10m but the estimate is 1h."


def test_resources_judge_concerns_on_a_tight_deadline() -> None:
    review = resources_judge({}, LIMITS, 500.0, deadline=600.0, now=0.0)
    assert review.verdict is JudgeVerdict.CONCERN
    assert "only 1m 40s of slack" in review.reasoning


def test_resources_judge_concerns_near_a_limit() -> None:
    review = resources_judge({"memory_mb": 60000}, LIMITS, 60.0, None, 0.0)
    assert review.verdict is JudgeVerdict.CONCERN
    assert "92% of the limit of 65536" in review.reasoning


def test_resources_judge_approves_a_comfortable_plan() -> None:
    review = resources_judge({"cpu_cores": 2, "memory_mb": 1024}, LIMITS, 60.0, deadline=3600.0, now=0.0)
    assert review.verdict is JudgeVerdict.APPROVE and review.confidence == 0.9
    unknown = resources_judge({"cpu_cores": 2}, LIMITS, None, None, 0.0)
    assert unknown.verdict is JudgeVerdict.APPROVE and unknown.confidence < 0.9
    assert "no duration estimate" in unknown.evidence


# -- compliance judge ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirement", "gates"),
    [
        ("tests pass", ["functional_test"]),
        ("tested", ["functional_test"]),
        ("no lint errors", ["code_style"]),
        ("follows the style guide", ["code_style"]),
        ("secure", ["security_scan"]),
        ("no vulnerabilities", ["security_scan"]),
        ("fast", ["performance_test"]),
        ("performance under 200ms", ["performance_test"]),
        ("integration tests pass", ["integration_test"]),
        ("reviewed by a human", ["manual_review"]),
        ("secure and tested", ["functional_test", "security_scan"]),
        ("scalable", []),
    ],
)
def test_requirement_to_gate_mapping(requirement: str, gates: list[str]) -> None:
    assert requirement_gate_types(requirement) == gates


def test_requirement_gate_table_is_data_over_every_gate_type() -> None:
    assert {gate for _, gate in REQUIREMENT_GATES} == {
        "functional_test", "code_style", "security_scan", "performance_test", "integration_test", "manual_review"}


def test_compliance_judge_approves_when_every_requirement_is_covered() -> None:
    review = compliance_judge(["tests pass", "no lint errors", "scalable"],
                              {"lint": ["code_style"], "test": ["functional_test"]}, True)
    assert review.verdict is JudgeVerdict.APPROVE
    assert "All 2 checkable requirement(s) are covered" in review.reasoning
    assert "no gate can check: 'scalable'" in review.evidence


def test_compliance_judge_reports_uncovered_requirements_as_gaps() -> None:
    review = compliance_judge(["tests pass", "secure"], {"test": ["functional_test"]}, True)
    assert review.verdict is JudgeVerdict.CONCERN
    assert "requirement 'secure' is not covered: no security_scan gate in the plan" in review.reasoning
    assert review.recommendations == ["Add a security_scan gate to cover 'secure'."]


def test_compliance_judge_concerns_on_an_infeasible_deadline() -> None:
    review = compliance_judge([], {}, False)
    assert review.verdict is JudgeVerdict.CONCERN
    assert "deadline" in review.reasoning


def test_compliance_judge_with_nothing_to_check_approves() -> None:
    review = compliance_judge(["scalable"], {}, True)
    assert review.verdict is JudgeVerdict.APPROVE
    assert review.reasoning == "No requirement needs a gate."


# -- quality judge -------------------------------------------------------------------


def gate(step: str, gate_type: str, status: str = "passed", score: float | None = 1.0,
         required: bool = True) -> dict[str, Any]:
    return {"step": step, "gate": gate_type, "required": required, "status": status, "score": score}


def steps_done(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "status": "completed"} for n in names]


def test_quality_judge_approves_all_green() -> None:
    review = quality_judge(steps_done("a", "b"), [gate("a", "code_style")])
    assert review.verdict is JudgeVerdict.APPROVE


def test_quality_judge_concerns_on_a_failed_advisory_gate() -> None:
    review = quality_judge(steps_done("a"), [gate("a", "code_style", "failed", 0.9, required=False)])
    assert review.verdict is JudgeVerdict.CONCERN
    assert "Advisory code_style on step 'a' failed (score 0.90)" in review.reasoning


def test_quality_judge_concerns_on_a_low_mean_score() -> None:
    review = quality_judge(steps_done("a"), [gate("a", "performance_test", "passed", 0.5)])
    assert review.verdict is JudgeVerdict.CONCERN
    assert "mean gate score is 0.50" in review.reasoning


def test_quality_judge_rejects_a_failed_required_gate_or_step() -> None:
    assert quality_judge(steps_done("a"), [gate("a", "functional_test", "failed", 0.0)]).verdict \
        is JudgeVerdict.REJECT
    assert quality_judge([{"name": "a", "status": "failed"}], []).verdict is JudgeVerdict.REJECT


# -- initial review ------------------------------------------------------------------


def run_initial(v: TaskValidation, risk: RiskAssessment, **kw: Any) -> CouncilReview:
    args: dict[str, Any] = {"resources": {"cpu_cores": 2}, "limits": LIMITS, "estimated_duration": 60.0,
                            "deadline": None, "now": 0.0, "requirements": ["tests pass"],
                            "gates_by_step": {"build": [], "test": ["functional_test"]}}
    args.update(kw)
    return initial_review(v, risk, **args)


def test_initial_review_approves_a_clean_low_risk_task() -> None:
    review = run_initial(validation(), RiskAssessment(RiskLevel.LOW, ["Nothing."]))
    assert review.overall_verdict is JudgeVerdict.APPROVE
    assert set(review.judge_reviews) == {"security", "resources", "compliance"}
    assert review.compliance_score == 1.0
    assert review.quality_score == 0.5  # one of two steps has a gate
    assert review.requires_followup is False
    assert review.recommendations == []


def test_initial_review_verdict_is_the_worst_judge() -> None:
    v = validation([("s", "rm -rf /")])
    review = run_initial(v, assess_risk(v, commands=["rm -rf /"], mode="auto", requirements=[], resources={},
                                        priority="normal"),
                         requirements=["tests pass", "secure"], resources={"cpu_cores": 99})
    assert review.overall_verdict is JudgeVerdict.REJECT
    assert review.judge_reviews["security"].verdict is JudgeVerdict.REJECT
    assert review.judge_reviews["resources"].verdict is JudgeVerdict.REJECT
    assert review.judge_reviews["compliance"].verdict is JudgeVerdict.CONCERN
    assert review.compliance_score == 0.5
    assert review.requires_followup is True
    assert "Add a security_scan gate to cover 'secure'." in review.recommendations


def test_initial_review_uses_the_validation_feasibility() -> None:
    v = validation(deadline=30.0, now=0.0, estimated_duration=60.0)
    review = run_initial(v, RiskAssessment(RiskLevel.LOW, ["x."]), deadline=30.0)
    assert review.judge_reviews["compliance"].verdict is JudgeVerdict.CONCERN
    assert review.overall_verdict is JudgeVerdict.CONCERN


def test_initial_review_to_json_is_plain() -> None:
    review = run_initial(validation(), RiskAssessment(RiskLevel.LOW, ["x."]))
    data = json.loads(json.dumps(review.to_json()))
    assert data["overall_verdict"] == "approve"
    assert data["judge_reviews"]["security"]["verdict"] == "approve"
    assert set(data) == {"overall_verdict", "judge_reviews", "recommendations", "compliance_score",
                         "quality_score", "requires_followup"}


# -- final review --------------------------------------------------------------------

GATES = {"lint": ["code_style"], "test": ["functional_test"], "bench": ["performance_test"]}
REQS = ["tests pass", "no lint errors", "fast", "scalable"]


def all_green() -> list[dict[str, Any]]:
    return [gate("lint", "code_style"), gate("test", "functional_test"),
            gate("bench", "performance_test", required=False)]


def test_final_review_completed() -> None:
    review, completion, gaps = final_review(step_outcomes=steps_done("lint", "test", "bench"),
                                            gate_results=all_green(), requirements=REQS, gates_by_step=GATES)
    assert completion == "completed"
    assert gaps == []
    assert review.overall_verdict is JudgeVerdict.APPROVE
    assert set(review.judge_reviews) == {"compliance", "quality"}
    assert review.compliance_score == 1.0 and review.quality_score == 1.0
    assert review.requires_followup is False


def test_final_review_advisory_gate_failed_is_partial() -> None:
    results = [*all_green()[:2], gate("bench", "performance_test", "failed", 0.4, required=False)]
    review, completion, gaps = final_review(step_outcomes=steps_done("lint", "test", "bench"),
                                            gate_results=results, requirements=REQS, gates_by_step=GATES)
    assert completion == "partially_completed"
    assert gaps == [
        "advisory gate performance_test on step 'bench' failed (score 0.40)",
        "requirement 'fast' is not met: performance_test on step 'bench' failed",
    ]
    assert review.compliance_score == pytest.approx(2 / 3)  # 'scalable' is not mappable
    assert review.quality_score == pytest.approx((1 + 1 + 0.4) / 3)
    assert review.requires_followup is True
    assert review.overall_verdict is JudgeVerdict.CONCERN


def test_final_review_requirement_without_a_gate_is_a_gap() -> None:
    review, completion, gaps = final_review(step_outcomes=steps_done("lint", "test", "bench"),
                                            gate_results=all_green(), requirements=[*REQS, "secure"],
                                            gates_by_step=GATES)
    assert completion == "partially_completed"
    assert gaps == ["requirement 'secure' is not met: no security_scan gate in the plan"]
    assert review.compliance_score == pytest.approx(3 / 4)


def test_final_review_required_gate_failed_is_partial_and_rejected() -> None:
    results = [gate("lint", "code_style", "failed", 0.2), *all_green()[1:]]
    review, completion, gaps = final_review(step_outcomes=steps_done("lint", "test", "bench"),
                                            gate_results=results, requirements=[], gates_by_step=GATES)
    assert completion == "partially_completed"
    assert gaps == ["required gate code_style on step 'lint' failed (score 0.20)"]
    assert review.overall_verdict is JudgeVerdict.REJECT


def test_final_review_skipped_step_and_missing_gate_result_are_gaps() -> None:
    outcomes = [*steps_done("lint", "test"), {"name": "bench", "status": "skipped"}]
    review, completion, gaps = final_review(step_outcomes=outcomes, gate_results=all_green()[:2],
                                            requirements=[], gates_by_step=GATES)
    assert completion == "partially_completed"
    assert gaps == ["step 'bench' was skipped, not completed",
                    "gate performance_test on step 'bench' has no result"]
    assert review.quality_score == pytest.approx(2 / 3)  # mean 1.0 x 2 of 3 steps completed


def test_final_review_latest_attempt_of_a_gate_counts() -> None:
    results = [gate("lint", "code_style", "failed", 0.1), *all_green()]  # retried and passed
    _, completion, gaps = final_review(step_outcomes=steps_done("lint", "test", "bench"), gate_results=results,
                                       requirements=REQS, gates_by_step=GATES)
    assert completion == "completed" and gaps == []


def test_final_review_gate_label_with_a_type_key() -> None:
    results = [{"step": "t", "gate": "unit tests", "type": "functional_test", "required": True,
                "status": "passed", "score": None}]
    review, completion, _ = final_review(step_outcomes=steps_done("t"), gate_results=results,
                                         requirements=["tests pass"], gates_by_step={"t": ["functional_test"]})
    assert completion == "completed"
    assert review.quality_score == 1.0  # no score: a pass counts 1.0


def test_final_review_without_gates_or_requirements() -> None:
    review, completion, gaps = final_review(step_outcomes=steps_done("a"), gate_results=[], requirements=[],
                                            gates_by_step={"a": []})
    assert (completion, gaps) == ("completed", [])
    assert review.quality_score == 1.0 and review.compliance_score == 1.0
    data = json.loads(json.dumps(review.to_json()))
    assert data["overall_verdict"] == "approve"
