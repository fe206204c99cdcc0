"""{{crate}}: decides which signals start a recovery case.

Config (the `[trigger.config]` table of a tenant's policy), every key optional:
    priority = 70                # how urgent a recovered caller is, 0 to 100
    voicemail_priority = 85      # a caller who left a voicemail wants an answer
    blocked_prefixes = ["+1900"] # numbers never called back
"""

import json

from wit_world import exports
from wit_world.imports.types import (
    Recovery,
    SignalKind,
    TriggerDecision_Ignore,
    TriggerDecision_Recover,
    TriggerInput,
)


class TriggerPolicy(exports.TriggerPolicy):
    def decide(self, input: TriggerInput):
        config = json.loads(input.config or "{}")
        signal = input.signal
        if input.history.opted_out:
            return TriggerDecision_Ignore("the caller opted out")
        if any(signal.caller.startswith(p) for p in config.get("blocked_prefixes", [])):
            return TriggerDecision_Ignore("a blocked number")
        if signal.kind == SignalKind.VOICEMAIL:
            priority = config.get("voicemail_priority", 85)
        else:
            priority = config.get("priority", 70)
        return TriggerDecision_Recover(Recovery(priority=min(priority, 100), known=signal.context))
