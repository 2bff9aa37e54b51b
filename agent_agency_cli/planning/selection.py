"""Model selection (the seed's ModelSelection): which model runs a model step, with
which fallbacks, and why.

Rules come from the config (`models.selection`): a task requirement (e.g. `code`)
picks a rule, else the `default` rule; a rule's `specialized` map (or the global
`types` map) picks a model for the step's type. A step that names its model keeps
it as primary and inherits the rule's fallbacks.
"""

from __future__ import annotations

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


def select_model(step_type: str | None, requirements: list[str], cfg: ModelsSettings,
                 named: str | None = None) -> ModelSelection:
    """The model chain for one step; BadInputError (one line) when nothing fits."""
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
    return ModelSelection(primary, [m for m in chain if m != primary], specialized, reasoning)


def swap_selection(old: dict[str, Any] | None, new_model: str, cfg: ModelsSettings) -> dict[str, Any]:
    """The selection after `task modify --model`: the new model first, the old chain after."""
    if new_model not in cfg.models:
        known = ", ".join(sorted(cfg.models)) or "none configured"
        raise BadInputError(f"model {new_model!r} is not configured (known: {known})")
    old_chain = [] if old is None else [old["primary"], *old.get("fallbacks", [])]
    return ModelSelection(new_model, [m for m in old_chain if m != new_model],
                          (old or {}).get("specialized", {}), "hot-swapped by a person").to_json()


def selections_for(steps: list[Any], requirements: list[str], cfg: ModelsSettings) -> dict[str, dict[str, Any]]:
    """Each model step's selection (stored in its spec, shown in status); BadInputError naming the step."""
    out: dict[str, dict[str, Any]] = {}
    for s in steps:
        if s.model is None:
            continue
        try:
            out[s.name] = select_model(s.type, requirements, cfg, s.model).to_json()
        except BadInputError as exc:
            raise BadInputError(f"step {s.name!r}: {exc}") from None
    return out
