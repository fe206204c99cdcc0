"""{{crate}}: writes the callback's script, then turns the caller's answers into the
decision fields a person (or the follow-up queue) acts on.

Config (the `[qualify.config]` table of a tenant's policy), every key optional:
    business_name = "Acme Plumbing"
    urgent_words = ["leak", "flood", "no water"]
"""

import json

from wit_world import exports
from wit_world.imports.types import (
    AnswerKind_FreeText,
    AnswerKind_YesNo,
    AnswerValue_YesNo,
    Disposition,
    EvaluateInput,
    NextAction,
    Qualification,
    QualifiedValue,
    Question,
    ReasonCode_SupportIssue,
    Script,
    ScriptInput,
    Urgency,
)


def _settings(text):
    config = json.loads(text or "{}")
    return (
        config.get("business_name", "our team"),
        [w.lower() for w in config.get("urgent_words", ["leak", "flood", "no water"])],
    )


class QualifyPolicy(exports.QualifyPolicy):
    def compose_script(self, input: ScriptInput):
        business, _ = _settings(input.config)
        return Script(
            opening=f"Hi, this is {business} returning your call.",
            availability_check="Is now a good time for two quick questions?",
            questions=[
                Question("reason", "What can we help you with?", AnswerKind_FreeText()),
                Question("owner", "Are you the property owner?", AnswerKind_YesNo()),
            ],
        )

    def evaluate(self, input: EvaluateInput):
        _, urgent_words = _settings(input.config)
        answers = {a.field_id: a.value for a in input.answers}
        reason = answers.get("reason")
        reason = reason.value.lower() if reason is not None and isinstance(reason.value, str) else None
        urgent = reason is not None and any(w in reason for w in urgent_words)
        owner = answers.get("owner")
        owner = owner.value if isinstance(owner, AnswerValue_YesNo) else None
        nobody = QualifiedValue(None, False)
        return Disposition(
            reason_code=ReasonCode_SupportIssue(),
            urgency=Urgency.SAME_DAY if urgent else Urgency.THIS_WEEK,
            qualification=Qualification(
                buying_role=QualifiedValue(
                    None if owner is None else ("owner" if owner else "not the owner"),
                    owner is not None,
                ),
                timeline=nobody,
                existing_system=nobody,
                budget_range=nobody,
            ),
            next_action=NextAction.SELLER_CALLBACK if urgent else NextAction.BOOKING_LINK,
            intent_score=90 if urgent else 50,
            summary=reason or "no reason given",
        )
