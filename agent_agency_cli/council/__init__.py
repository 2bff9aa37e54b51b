"""The review council: risk -> review policy, the judges, the initial and final reviews."""

from agent_agency_cli.council.judges import (
    CouncilVerdict,
    JudgeReview,
    JudgeVerdict,
    compliance_judge,
    quality_judge,
    resources_judge,
    security_judge,
)
from agent_agency_cli.council.review import CouncilReview, final_review, initial_review
from agent_agency_cli.council.risk import RiskAssessment, RiskLevel, assess_risk, review_mode

__all__ = [
    "CouncilReview",
    "CouncilVerdict",
    "JudgeReview",
    "JudgeVerdict",
    "RiskAssessment",
    "RiskLevel",
    "assess_risk",
    "compliance_judge",
    "final_review",
    "initial_review",
    "quality_judge",
    "resources_judge",
    "review_mode",
    "security_judge",
]
