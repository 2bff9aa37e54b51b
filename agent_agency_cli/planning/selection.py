"""Model selection (the seed's ModelSelection): which model runs a model step, with
which fallbacks, and why.

Rules come from the config (`models.selection`): a task requirement (e.g. `code`)
picks a rule, else the `default` rule; a rule's `specialized` map (or the global
`types` map) picks a model for the step's type. A step that names its model keeps
it as primary and inherits the rule's fallbacks.

For `model: auto`, what was learnt (learning.aggregate.model_records: per model, runs,
success rate and mean cost for the step's type) re-orders the rule's candidates: those
with at least `models.selection.learning_min_runs` runs are ranked by success rate, then
mean cost, and take the places in the chain that such candidates held; a candidate with
fewer runs keeps its place. The reasoning says what decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from agent_agency_cli.config import ModelsSettings, SelectionRule
from agent_agency_cli.errors import BadInputError

AUTO = "auto"


@dataclass
class ModelSelection:
    primary: str
    fallbacks: list[str] = field(default_factory=list)
    specialized: dict[str, str] = field(default_factory=dict)
    reasoning: str = ""

    @property
    def chain(self) -> list[str]:
        """Primary first, then each fallback once."""
        out: list[str] = []
        for m in [self.primary, *self.fallbacks]:
            if m not in out:
                out.append(m)
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _rule_for(requirements: list[str], cfg: ModelsSettings) -> tuple[SelectionRule | None, str]:
    wanted = {r.strip().lower() for r in requirements}
    for key, rule in cfg.selection.requirements.items():
        if key.lower() in wanted:
            return rule, f"requirement {key!r}"
    return cfg.selection.default, "the default rule"


Learnt = Mapping[str | None, list[dict[str, Any]]]  # step type -> learning.aggregate.model_records rows


def _of_type(step_type: str | None) -> str:
    return f"type {step_type}" if step_type else "steps without a type"


def _figures(r: dict[str, Any], of: str = "") -> str:
    """`96% over 25 runs, $0.002/step` (with `of`: `96% success over 25 runs of type t, ...`)."""
    pct = f"{round((r['success_rate'] or 0.0) * 100)}%"
    cost = f", ${r['cost_mean']:.4g}/step" if r.get("cost_mean") is not None else ""
    return f"{pct} success over {r['runs']} runs of {of}{cost}" if of else f"{pct} over {r['runs']} runs{cost}"


def rank_by_learning(chain: list[str], records: list[dict[str, Any]], min_runs: int, step_type: str | None,
                     config_why: str) -> tuple[list[str], str]:
    """(the chain re-ordered by what was learnt, the reasoning). Candidates with at least
    `min_runs` runs are ranked by success rate, then mean cost (unknown cost last, ties keep
    the config's order) and fill the chain's places such candidates held; the others keep theirs."""
    by_model = {r["model"]: r for r in records}
    known = [m for m in chain if by_model.get(m, {}).get("runs", 0) >= min_runs]
    if len(known) < 2:
        counts = ", ".join(f"{m} {by_model.get(m, {}).get('runs', 0)}" for m in chain)
        return chain, (f"{config_why}; config order stands: learning ranks models with at least {min_runs} "
                       f"runs of {_of_type(step_type)} (runs: {counts})")

    def key(m: str) -> tuple[float, float]:
        r = by_model[m]
        cost = r.get("cost_mean")
        return -(r["success_rate"] or 0.0), float("inf") if cost is None else cost

    ranked = iter(sorted(known, key=key))  # stable: ties keep the config's order
    out = [next(ranked) if m in known else m for m in chain]
    others = [f"{m}: {_figures(by_model[m])}" if m in known
              else f"{m}: {by_model.get(m, {}).get('runs', 0)} runs, too few to rank" for m in out[1:]]
    head = out[0]
    if head in known:
        lead = f"chose {head}: {_figures(by_model[head], _of_type(step_type))} (learning)"
    else:
        lead = f"kept {head}: {by_model.get(head, {}).get('runs', 0)} runs, too few to rank (learning)"
    return out, "; ".join([lead, *others, config_why])


def select_model(step_type: str | None, requirements: list[str], cfg: ModelsSettings,
                 named: str | None = None, learnt: Learnt | None = None) -> ModelSelection:
    """The model chain for one step; BadInputError (one line) when nothing fits. `learnt`
    (per step type, the learning's per-model records) ranks the candidates of `model: auto`."""
    if named and named != AUTO:
        if named not in cfg.models:
            known = ", ".join(sorted(cfg.models)) or "none configured"
            raise BadInputError(f"model {named!r} is not configured (known: {known}); "
                                "add it under models.models in the config")
        rule, why = _rule_for(requirements, cfg)
        fallbacks = [m for m in ([rule.primary, *rule.fallbacks] if rule else []) if m != named]
        return ModelSelection(named, fallbacks, dict(rule.specialized) if rule else {},
                              f"named by the step; fallbacks from {why}" if fallbacks else "named by the step")
    rule, why = _rule_for(requirements, cfg)
    if rule is None:
        if not cfg.models:
            raise BadInputError("a model step needs a model, and none is configured: add models.providers "
                                "and models.models to the config (see config.example.yaml)")
        if len(cfg.models) == 1:
            only = next(iter(cfg.models))
            return ModelSelection(only, [], {}, "the only configured model")
        raise BadInputError("model: auto needs models.selection.default (or a requirement rule) in the config")
    specialized = {**cfg.selection.types, **rule.specialized}
    chain = [rule.primary, *rule.fallbacks]
    reasoning = f"{why}: primary {rule.primary}"
    primary = rule.primary
    if step_type and step_type in specialized:
        primary = specialized[step_type]
        reasoning = f"{why}: specialised model for type {step_type!r}"
    if rule.reasoning:
        reasoning += f" ({rule.reasoning})"
    candidates = [primary, *[m for m in chain if m != primary]]
    min_runs = cfg.selection.learning_min_runs
    if learnt is not None and min_runs is not None and len(candidates) > 1:
        candidates, reasoning = rank_by_learning(candidates, learnt.get(step_type, []), min_runs, step_type,
                                                 reasoning)
    return ModelSelection(candidates[0], candidates[1:], specialized, reasoning)


def swap_selection(old: dict[str, Any] | None, new_model: str, cfg: ModelsSettings) -> dict[str, Any]:
    """The selection after `task modify --model`: the new model first, the old chain after."""
    if new_model not in cfg.models:
        known = ", ".join(sorted(cfg.models)) or "none configured"
        raise BadInputError(f"model {new_model!r} is not configured (known: {known})")
    old_chain = [] if old is None else [old["primary"], *old.get("fallbacks", [])]
    return ModelSelection(new_model, [m for m in old_chain if m != new_model],
                          (old or {}).get("specialized", {}), "hot-swapped by a person").to_json()


def auto_types(steps: list[Any]) -> set[str | None]:
    """The step types of the plan's `model: auto` steps (whose learnt records selection reads)."""
    return {s.type for s in steps if s.model == AUTO}


def selections_for(steps: list[Any], requirements: list[str], cfg: ModelsSettings,
                   learnt: Learnt | None = None) -> dict[str, dict[str, Any]]:
    """Each model step's selection (stored in its spec, shown in status); BadInputError naming the step."""
    out: dict[str, dict[str, Any]] = {}
    for s in steps:
        if s.model is None:
            continue
        try:
            out[s.name] = select_model(s.type, requirements, cfg, s.model, learnt).to_json()
        except BadInputError as exc:
            raise BadInputError(f"step {s.name!r}: {exc}") from None
    return out
