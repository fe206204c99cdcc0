"""{{crate}}: turns a qualified case into operations on the tenant's CRM: the contact,
found by phone or created, and a note on it.

Config (the `[crm.config]` table of a tenant's policy), every key optional:
    system = "hubspot"
"""

import json

from wit_world import exports
from wit_world.imports.types import CrmAction, CrmInput, CrmOperation, Field


class CrmPolicy(exports.CrmPolicy):
    def operations(self, input: CrmInput):
        system = json.loads(input.config or "{}").get("system", "hubspot")
        phone = input.case.signal.caller
        contact = CrmOperation(
            id="contact",
            system=system,
            object="contacts",
            action=CrmAction.UPSERT,
            match_key=Field("phone", phone),
            properties=[Field("phone", phone)],
            associate=[],
        )
        note = CrmOperation(
            id="note",
            system=system,
            object="notes",
            action=CrmAction.CREATE,
            match_key=None,
            properties=[Field("hs_note_body", input.disposition.summary)],
            associate=["contact"],
        )
        return [contact, note]
