// {{crate}}: decides when to call again, when to send a message instead, and when to stop.
//
// Config (the `[cadence.config]` table of a tenant's policy), every key optional:
//   delays_secs = [30, 900, 7200]   # the wait before each attempt: the first, the second...
//   fallback = "Sorry we missed you! Reply with a good time to call."

export const cadencePolicy = {
  next(input) {
    const config = JSON.parse(input.config || "{}");
    const delays = config.delays_secs ?? [30, 900, 7200];
    const message = config.fallback ?? "Sorry we missed you! Reply with a good time to call.";
    const fallback = { tag: "fallback", val: { channel: "sms", message, link: undefined } };
    const attempts = input.case.attempts;
    const last = attempts.length > 0 ? attempts[attempts.length - 1].outcome : undefined;
    if (last?.tag === "call-later") {
      return { tag: "call-at", val: last.val };
    }
    if (last?.tag === "declined") {
      return fallback;
    }
    if (attempts.length < delays.length) {
      return { tag: "call-after", val: delays[attempts.length] };
    }
    return fallback;
  },
};
