"""Model steps in plans (validation, templates), model selection, the models config, and
`task plan` usage errors (in-process with CliRunner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.config import ModelsSettings, Settings
from agent_agency_cli.errors import BadInputError, PlanError
from agent_agency_cli.executors.templates import TemplateError, render, step_refs
from agent_agency_cli.planning.plan_file import parse_plan
from agent_agency_cli.planning.selection import select_model, swap_selection


def plan_error(steps: list[dict]) -> str:
    with pytest.raises(PlanError) as exc:
        parse_plan({"steps": steps})
    return str(exc.value)


# -- plan validation ------------------------------------------------------------------


def test_a_model_step_needs_a_prompt() -> None:
    assert plan_error([{"name": "a", "model": "m1"}]) == "step 'a': a model step needs a 'prompt'"


def test_json_schema_needs_json_response_format() -> None:
    msg = plan_error([{"name": "a", "model": "m1", "prompt": "p", "json_schema": {"type": "object"}}])
    assert msg == "step 'a': 'json_schema' needs 'response_format: json'"


def test_model_keys_on_a_shell_step_are_rejected() -> None:
    msg = plan_error([{"name": "a", "run": "true", "temperature": 0.2}])
    assert "'temperature' only apply to a model step" in msg


def test_a_prompt_with_only_a_type_is_a_model_step_chosen_by_selection() -> None:
    plan = parse_plan({"steps": [{"name": "a", "type": "review", "prompt": "look"}]})
    assert plan.steps[0].model == "auto" and plan.steps[0].kind == "model"


def test_output_must_stay_inside_the_workspace() -> None:
    assert "relative path inside" in plan_error([{"name": "a", "model": "m", "prompt": "p", "output": "../x"}])


def test_template_reads_only_steps_it_needs_transitively() -> None:
    ok = parse_plan({"steps": [
        {"name": "a", "run": "true"},
        {"name": "b", "run": "true", "needs": "a"},
        {"name": "c", "model": "m", "prompt": "{{ steps.a.output }} and {{steps.b.output}}", "needs": "b"},
    ]})
    assert ok.steps[2].needs == ["b"]
    msg = plan_error([{"name": "a", "run": "true"},
                      {"name": "c", "model": "m", "prompt": "{{ steps.a.output }}"}])
    assert msg == ("step 'c': {{ steps.a.output }} reads step 'a', which it does not need "
                   "(add 'a' to its 'needs')")
    assert "names no step" in plan_error([{"name": "c", "model": "m", "prompt": "{{ steps.zz.output }}"}])


def test_unknown_placeholder_is_one_line() -> None:
    msg = plan_error([{"name": "a", "model": "m", "prompt": "{{ secrets.key }}"}])
    assert msg.startswith("step 'a': unknown placeholder {{ secrets.key }}")


# -- templates --------------------------------------------------------------------------


def test_render_fills_every_placeholder() -> None:
    out = render("{{description}} / {{ requirements }} / {{ steps.x.output }}", description="d",
                 requirements=["a", "b"], step_output=lambda name: f"<{name}>")
    assert out == "d / a, b / <x>"
    assert step_refs("{{ steps.x.output }}{{ steps.y.output }}{{ steps.x.output }}") == ["x", "y"]


def test_render_fails_when_a_step_has_no_output() -> None:
    with pytest.raises(TemplateError, match="step 'x' has no output"):
        render("{{ steps.x.output }}", description="", requirements=[], step_output=lambda n: None)


# -- config and selection ----------------------------------------------------------------

CFG = {
    "providers": {"local": {"base_url": "http://127.0.0.1:1/v1"}},
    "models": {"big": {"provider": "local"}, "small": {"provider": "local"}, "coder": {"provider": "local"},
               "tester": {"provider": "local"}},
    "selection": {
        "default": {"primary": "small", "fallbacks": ["big"]},
        "requirements": {"code": {"primary": "coder", "fallbacks": ["big"], "specialized": {"testing": "tester"},
                                  "reasoning": "code needs a code model"}},
        "types": {"review": "big"},
    },
}


def models() -> ModelsSettings:
    return ModelsSettings.model_validate(CFG)


def test_selection_by_requirement_type_and_default() -> None:
    code = select_model("implementation", ["Code"], models())
    assert (code.primary, code.fallbacks) == ("coder", ["big"])
    assert "requirement 'code'" in code.reasoning and "code needs a code model" in code.reasoning
    testing = select_model("testing", ["code"], models())
    assert (testing.primary, testing.chain) == ("tester", ["tester", "coder", "big"])
    assert "specialised model for type 'testing'" in testing.reasoning
    review = select_model("review", [], models())
    assert (review.primary, review.fallbacks) == ("big", ["small"])
    plain = select_model(None, ["fast"], models())
    assert (plain.primary, plain.fallbacks, plain.reasoning) == ("small", ["big"], "the default rule: primary small")


def test_a_named_model_keeps_the_rules_fallbacks() -> None:
    sel = select_model(None, [], models(), named="big")
    assert (sel.primary, sel.fallbacks) == ("big", ["small"])
    with pytest.raises(BadInputError, match="model 'gpt-9' is not configured"):
        select_model(None, [], models(), named="gpt-9")


def test_auto_without_any_models_says_how_to_configure() -> None:
    with pytest.raises(BadInputError, match=r"config\.example\.yaml"):
        select_model(None, [], ModelsSettings())


def test_swap_puts_the_new_model_first() -> None:
    old = select_model(None, [], models()).to_json()
    new = swap_selection(old, "big", models())
    assert (new["primary"], new["fallbacks"], new["reasoning"]) == ("big", ["small"], "hot-swapped by a person")


def test_config_rejects_a_model_of_an_unknown_provider() -> None:
    from pydantic import ValidationError

    bad = {**CFG, "models": {"x": {"provider": "nowhere"}}, "selection": {}}
    with pytest.raises(ValidationError, match="provider 'nowhere'"):
        Settings.model_validate({"models": bad})
    with pytest.raises(ValidationError, match="names model 'ghost'"):
        Settings.model_validate({"models": {**CFG, "selection": {"planner": "ghost"}}})


def test_config_file_with_models_loads_and_unknown_keys_fail(tmp_path: Path) -> None:
    from agent_agency_cli.config import load_settings
    from agent_agency_cli.errors import ConfigError

    p = tmp_path / "c.yaml"
    p.write_text("models:\n  providers:\n    o: {base_url: 'http://127.0.0.1:11434/v1', api_key_env: OLLAMA_KEY}\n"
                 "  models:\n    q: {provider: o, id: 'qwen2.5:7b', context: 32768, price_in: 0.1}\n")
    s = load_settings(p)
    assert s.models.models["q"].id == "qwen2.5:7b" and s.models.providers["o"].api_key_env == "OLLAMA_KEY"
    p.write_text("models:\n  providers:\n    o: {base_url: x, api_key: sk-123}\n")
    with pytest.raises(ConfigError, match=r"unknown key models\.providers\.o\.api_key"):
        load_settings(p)


# -- `task plan` usage ----------------------------------------------------------------------


def test_task_plan_usage_errors_are_one_line() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["task", "plan"])
    assert res.exit_code == 2 and "nothing to plan: give --description" in res.output
    res = runner.invoke(app, ["task", "plan", "--edit"])
    assert res.exit_code == 2 and "need a task id" in res.output
    res = runner.invoke(app, ["task", "plan", "-d", "x", "--workdir", "/nonexistent/dir"])
    assert res.exit_code == 2 and "does not exist" in res.output
    assert "Traceback" not in res.output


# -- the streamed answer in the step log -------------------------------------------------------


def test_answer_lines_reach_the_log_as_they_arrive_and_long_lines_are_cut(tmp_path: Path) -> None:
    from agent_agency_cli.executors.base import StepLog, parse_log_line
    from agent_agency_cli.executors.model import AnswerLog

    path = tmp_path / "s.log"
    log = StepLog(path)
    answer = AnswerLog(log)

    def texts() -> list[str]:
        return [parse_log_line(ln)[2] for ln in path.read_text().splitlines()] if path.exists() else []

    answer.feed("first li")
    assert texts() == []
    answer.feed("ne\nsec")
    assert texts() == ["first line"]
    words = " ".join(f"word{i}" for i in range(40))  # one long paragraph, no newline
    for w in words.split(" "):
        answer.feed(w + " ")
    assert len(texts()) >= 3, "a long paragraph shows while it is being written"
    assert all(len(t) <= AnswerLog.WRAP for t in texts())
    answer.end()
    log.close()
    assert " ".join(texts()[1:]).replace("  ", " ").strip() == ("sec" + words).strip()


# -- model: auto learns from runs ---------------------------------------------------------


def rec(model: str, runs: int, rate: float, cost: float | None = 0.002) -> dict:
    return {"model": model, "runs": runs, "success_rate": rate, "cost_mean": cost}


def test_auto_prefers_the_model_with_the_better_learnt_success_rate() -> None:
    learnt = {"testing": [rec("small", 10, 0.4, 0.001), rec("big", 25, 0.96)]}
    sel = select_model("testing", [], models(), learnt=learnt)
    assert (sel.primary, sel.fallbacks) == ("big", ["small"])
    assert sel.reasoning == ("chose big: 96% success over 25 runs of type testing, $0.002/step (learning); "
                             "small: 40% over 10 runs, $0.001/step; the default rule: primary small")


def test_equal_success_rates_prefer_the_cheaper_model_then_the_config_order() -> None:
    cheap = {None: [rec("small", 5, 1.0, 0.01), rec("big", 5, 1.0, 0.002)]}
    assert select_model(None, [], models(), learnt=cheap).primary == "big"
    tie = {None: [rec("small", 5, 1.0), rec("big", 5, 1.0)]}
    assert select_model(None, [], models(), learnt=tie).chain == ["small", "big"]
    unknown_cost = {None: [rec("small", 5, 1.0, None), rec("big", 5, 1.0, 0.5)]}
    assert select_model(None, [], models(), learnt=unknown_cost).primary == "big"


def test_too_few_runs_keep_the_config_order_and_say_so() -> None:
    learnt = {"testing": [rec("small", 4, 0.0), rec("big", 30, 1.0)]}  # small: one run short of 5
    sel = select_model("testing", [], models(), learnt=learnt)
    assert sel.chain == ["small", "big"]
    assert sel.reasoning == ("the default rule: primary small; config order stands: learning ranks models with "
                             "at least 5 runs of type testing (runs: small 4, big 30)")
    none_yet = select_model(None, [], models(), learnt={})
    assert none_yet.chain == ["small", "big"] and "steps without a type (runs: small 0, big 0)" in none_yet.reasoning


def test_learning_reorders_only_the_places_of_candidates_with_enough_runs() -> None:
    # code rule, type testing: tester (specialised), coder, big. tester has too few runs: it stays first.
    learnt = {"testing": [rec("tester", 2, 1.0), rec("coder", 9, 0.5), rec("big", 9, 0.9)]}
    sel = select_model("testing", ["code"], models(), learnt=learnt)
    assert sel.chain == ["tester", "big", "coder"]
    assert sel.reasoning.startswith("kept tester: 2 runs, too few to rank (learning); big: 90% over 9 runs")
    assert "specialised model for type 'testing'" in sel.reasoning


def test_records_of_other_models_or_types_do_not_count() -> None:
    learnt = {"review": [rec("small", 50, 1.0), rec("big", 50, 0.1)],
              "testing": [rec("coder", 50, 1.0), rec("big", 50, 0.1)]}  # coder is no candidate of the default rule
    sel = select_model("testing", [], models(), learnt=learnt)
    assert sel.chain == ["small", "big"] and "config order stands" in sel.reasoning


def test_a_named_model_and_learning_turned_off_ignore_what_was_learnt() -> None:
    learnt = {None: [rec("small", 50, 0.0), rec("big", 50, 1.0)]}
    assert select_model(None, [], models(), named="small", learnt=learnt).primary == "small"
    off = ModelsSettings.model_validate({**CFG, "selection": {**CFG["selection"], "learning_min_runs": None}})
    sel = select_model(None, [], off, learnt=learnt)
    assert (sel.primary, sel.reasoning) == ("small", "the default rule: primary small")
    with pytest.raises(ValidationError, match="learning_min_runs"):
        ModelsSettings.model_validate({**CFG, "selection": {**CFG["selection"], "learning_min_runs": 0}})
