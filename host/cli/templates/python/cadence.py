"""{{crate}}: decides when to call again, when to send a message instead, and when to stop.

Config (the `[cadence.config]` table of a tenant's policy), every key optional:
    delays_secs = [30, 900, 7200]   # the wait before each attempt: the first, the second...
    fallback = "Sorry we missed you! Reply with a good time to call."
"""

import json

from wit_world import exports
from wit_world.imports.types import (
    AttemptOutcome_CallLater,
    AttemptOutcome_Declined,
    CadenceDecision_CallAfter,
    CadenceDecision_CallAt,
    CadenceDecision_Fallback,
    CadenceInput,
    Fallback,
    FallbackChannel,
)


class CadencePolicy(exports.CadencePolicy):
    def next(self, input: CadenceInput):
        config = json.loads(input.config or "{}")
        delays = config.get("delays_secs", [30, 900, 7200])
        message = config.get("fallback", "Sorry we missed you! Reply with a good time to call.")
        fallback = CadenceDecision_Fallback(Fallback(FallbackChannel.SMS, message, None))
        attempts = input.case.attempts
        last = attempts[-1].outcome if attempts else None
        if isinstance(last, AttemptOutcome_CallLater):
            return CadenceDecision_CallAt(last.value)
        if isinstance(last, AttemptOutcome_Declined):
            return fallback
        if len(attempts) < len(delays):
            return CadenceDecision_CallAfter(delays[len(attempts)])
        return fallback
