// {{crate}}: writes the callback's script, then turns the caller's answers into the
// decision fields a person (or the follow-up queue) acts on.
//
// Config (the `[qualify.config]` table of a tenant's policy), every key optional:
//   business_name = "Acme Plumbing"
//   urgent_words = ["leak", "flood", "no water"]

function settings(text) {
  const config = JSON.parse(text || "{}");
  return {
    business: config.business_name ?? "our team",
    urgentWords: (config.urgent_words ?? ["leak", "flood", "no water"]).map((w) => w.toLowerCase()),
  };
}

const nobody = { value: undefined, confirmed: false };

export const qualifyPolicy = {
  composeScript(input) {
    const { business } = settings(input.config);
    return {
      opening: `Hi, this is ${business} returning your call.`,
      availabilityCheck: "Is now a good time for two quick questions?",
      questions: [
        { fieldId: "reason", text: "What can we help you with?", kind: { tag: "free-text" } },
        { fieldId: "owner", text: "Are you the property owner?", kind: { tag: "yes-no" } },
      ],
    };
  },

  evaluate(input) {
    const { urgentWords } = settings(input.config);
    const answer = (id) => input.answers.find((a) => a.fieldId === id)?.value;
    const said = answer("reason");
    const reason = said?.tag === "text" ? said.val.toLowerCase() : undefined;
    const urgent = reason !== undefined && urgentWords.some((w) => reason.includes(w));
    const owned = answer("owner");
    const owner = owned?.tag === "yes-no" ? owned.val : undefined;
    return {
      reasonCode: { tag: "support-issue" },
      urgency: urgent ? "same-day" : "this-week",
      qualification: {
        buyingRole: {
          value: owner === undefined ? undefined : owner ? "owner" : "not the owner",
          confirmed: owner !== undefined,
        },
        timeline: nobody,
        existingSystem: nobody,
        budgetRange: nobody,
      },
      nextAction: urgent ? "seller-callback" : "booking-link",
      intentScore: urgent ? 90 : 50,
      summary: reason ?? "no reason given",
    };
  },
};
