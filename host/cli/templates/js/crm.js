// {{crate}}: turns a qualified case into operations on the tenant's CRM: the contact,
// found by phone or created, and a note on it.
//
// Config (the `[crm.config]` table of a tenant's policy), every key optional:
//   system = "hubspot"

export const crmPolicy = {
  operations(input) {
    const system = JSON.parse(input.config || "{}").system ?? "hubspot";
    const phone = input.case.signal.caller;
    return [
      {
        id: "contact",
        system,
        object: "contacts",
        action: "upsert",
        matchKey: { key: "phone", value: phone },
        properties: [{ key: "phone", value: phone }],
        associate: [],
      },
      {
        id: "note",
        system,
        object: "notes",
        action: "create",
        matchKey: undefined,
        properties: [{ key: "hs_note_body", value: input.disposition.summary }],
        associate: ["contact"],
      },
    ];
  },
};
