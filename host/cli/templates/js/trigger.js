// {{crate}}: decides which signals start a recovery case.
//
// Config (the `[trigger.config]` table of a tenant's policy), every key optional:
//   priority = 70                # how urgent a recovered caller is, 0 to 100
//   voicemail_priority = 85      # a caller who left a voicemail wants an answer
//   blocked_prefixes = ["+1900"] # numbers never called back

export const triggerPolicy = {
  decide(input) {
    const config = JSON.parse(input.config || "{}");
    const signal = input.signal;
    if (input.history.optedOut) {
      return { tag: "ignore", val: "the caller opted out" };
    }
    if ((config.blocked_prefixes ?? []).some((p) => signal.caller.startsWith(p))) {
      return { tag: "ignore", val: "a blocked number" };
    }
    const priority =
      signal.kind === "voicemail" ? (config.voicemail_priority ?? 85) : (config.priority ?? 70);
    return { tag: "recover", val: { priority: Math.min(priority, 100), known: signal.context } };
  },
};
