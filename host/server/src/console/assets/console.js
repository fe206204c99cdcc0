// Redial console: every change is a request to the JSON API, sent with the session's
// CSRF token; pages are rendered by the server, so this script only sends, shows answers
// and ticks SLA clocks.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

function notice(text, kind) {
  const box = document.getElementById("notice");
  if (!box) return;
  box.textContent = text;
  box.className = kind || "";
}

// Sends one API request; resolves to { ok, status, data } where data is the JSON answer
// (or text). An error answer's message (and the field it names) becomes `error`.
async function api(method, path, body, type) {
  const headers = { "X-CSRF-Token": csrf() };
  if (type) headers["Content-Type"] = type;
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  } catch (e) {
    return { ok: false, status: 0, error: "The server could not be reached: " + e.message };
  }
  const text = await response.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* not JSON */ }
  const result = { ok: response.ok, status: response.status, data };
  if (!response.ok) {
    const e = data && data.error;
    result.error = e ? e.message + (e.field ? " (field: " + e.field + ")" : "") : String(text || response.status);
    if (response.status === 401) result.error += " — sign in again.";
  }
  return result;
}

// Buttons that call a route: data-api, data-method, data-then, data-confirm.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-api]");
  if (!button) return;
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  button.disabled = true;
  notice("Working…");
  const r = await api(button.dataset.method || "POST", button.dataset.api);
  button.disabled = false;
  if (!r.ok) return notice(r.error, "error");
  if (button.dataset.then === "show-token") {
    const out = document.getElementById("token-out");
    out.textContent = "Token for " + r.data.tenant + " (shown once): " + r.data.token;
    return notice("Token issued: copy it now, it is not shown again.", "ok");
  }
  notice("Done.", "ok");
  if (button.dataset.then === "reload") window.location.reload();
});

// SLA clocks: time left (or overdue) counted from the server's clock, every second.
function tickClocks() {
  for (const clock of document.querySelectorAll(".sla[data-deadline]")) {
    if (!clock.dataset.skew) clock.dataset.skew = String(Number(clock.dataset.now) - Date.now());
    const left = Number(clock.dataset.deadline) - (Date.now() + Number(clock.dataset.skew));
    const s = Math.floor(Math.abs(left) / 1000);
    const words = s >= 3600 ? Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min"
      : s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s";
    clock.textContent = left >= 0 ? words + " left" : "overdue by " + words;
    clock.classList.toggle("overdue", left < 0);
  }
}

function showProblems(list, problems) {
  list.replaceChildren();
  for (const p of problems) {
    const li = document.createElement("li");
    const where = p.line ? "Line " + p.line + (p.column ? ", column " + p.column : "") : "Policy";
    const text = where + (p.key ? " (" + p.key + ")" : "") + ": " + p.message;
    if (p.line && list.dataset.editor) {
      const jump = document.createElement("button");
      jump.type = "button";
      jump.className = "link";
      jump.textContent = text;
      jump.addEventListener("click", () => selectLine(document.getElementById(list.dataset.editor), p.line));
      li.append(jump);
    } else {
      li.textContent = text;
    }
    list.append(li);
  }
}

function selectLine(area, line) {
  const lines = area.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (lines[line - 1] || "").length);
  const height = area.scrollHeight / Math.max(lines.length, 1);
  area.scrollTop = Math.max(0, (line - 5) * height);
}

// The policy editor: line numbers, check, and save only what the check accepts.
function policyEditor(form) {
  const tenant = form.dataset.tenant;
  const area = document.getElementById("policy-text");
  const gutter = form.querySelector(".gutter");
  const result = document.getElementById("policy-result");
  const verdict = document.getElementById("policy-verdict");
  const problems = document.getElementById("policy-problems");
  const sheet = document.getElementById("policy-sheet");
  problems.dataset.editor = "policy-text";
  const number = () => {
    const n = area.value.split("\n").length;
    gutter.textContent = Array.from({ length: n }, (_, i) => i + 1).join("\n");
    gutter.scrollTop = area.scrollTop;
  };
  area.addEventListener("input", number);
  area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
  number();
  const check = async () => {
    const r = await api("POST", "/v1/tenants/" + tenant + "/policy/check", area.value, "application/toml");
    result.hidden = false;
    if (!r.ok) { verdict.textContent = "Not checked"; showProblems(problems, [{ message: r.error }]); sheet.textContent = ""; return false; }
    const missing = r.data.missing_secrets.map((name) => ({ message: "secret " + name + " is not set yet (set it below first)" }));
    const valid = r.data.valid && missing.length === 0;
    verdict.textContent = valid ? "The policy is valid" : "The policy is refused";
    verdict.className = valid ? "ok" : "error";
    showProblems(problems, r.data.problems.concat(missing));
    sheet.textContent = r.data.pilot_sheet || "";
    return valid;
  };
  document.getElementById("policy-check").addEventListener("click", check);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!(await check())) return notice("Not saved: the live policy keeps serving.", "error");
    const r = await api("PUT", "/v1/tenants/" + tenant + "/policy", area.value, "application/toml");
    if (!r.ok) return notice("Not saved: " + r.error, "error");
    verdict.textContent = "Saved: the new policy is live";
    notice("Saved: the new policy is live.", "ok");
  });
}

function secretForm(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    const body = JSON.stringify({ value: form.elements.value.value });
    const r = await api("PUT", "/v1/tenants/" + form.dataset.tenant + "/secrets/" + encodeURIComponent(name), body, "application/json");
    form.elements.value.value = "";
    if (!r.ok) return notice(r.error, "error");
    notice("Secret " + name + " " + r.data.result + ".", "ok");
    window.location.reload();
  });
}

function uploadForm(form) {
  const split = form.elements.split;
  const showSplit = () => {
    const hidden = form.elements.mode.value !== "split";
    split.hidden = hidden;
    split.labels.forEach((l) => { l.hidden = hidden; });
  };
  form.elements.mode.addEventListener("change", showSplit);
  showSplit();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.component.files[0];
    if (!file) return notice("Choose a component file first.", "error");
    const mode = form.elements.mode.value;
    let path = form.dataset.base;
    if (mode !== "live") path += "/trial" + (mode === "split" ? "?split=" + encodeURIComponent(form.elements.split.value) : "");
    notice("Uploading and compiling " + file.name + "…");
    const r = await api("PUT", path, file, "application/wasm");
    if (!r.ok) return notice(r.error, "error");
    notice(mode === "live" ? "Live." : "Trial started.", "ok");
    window.location.reload();
  });
}

// Onboarding: compose the policy here, check it through the API, show the pilot sheet;
// going live sets the secrets, then puts the policy.
function onboarding(form) {
  const live = document.getElementById("o-live");
  const result = document.getElementById("o-result");
  let composed = null;
  const toggle = () => {
    for (const box of form.querySelectorAll("[data-when-voice]")) box.hidden = !box.dataset.whenVoice.split(" ").includes(form.elements.voice.value);
    for (const box of form.querySelectorAll("[data-when-crm]")) box.hidden = !box.dataset.whenCrm.split(" ").includes(form.elements.crm.value);
  };
  form.addEventListener("change", () => { toggle(); composed = null; live.disabled = true; });
  toggle();
  const secrets = () => Array.from(form.querySelectorAll("input[data-secret]")).filter((i) => !i.closest("[hidden]"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    composed = null;
    live.disabled = true;
    if (!form.reportValidity()) return notice("Fill in the marked fields first.", "error");
    const fields = new URLSearchParams(new FormData(form));
    const made = await api("POST", "/console/onboard/compose", fields, "application/x-www-form-urlencoded");
    if (!made.ok) return notice("Could not compose the policy: " + (made.error || made.data), "error");
    const tenant = form.elements.tenant.value.trim();
    const r = await api("POST", "/v1/tenants/" + tenant + "/policy/check", made.data, "application/toml");
    result.hidden = false;
    document.getElementById("o-policy").textContent = made.data;
    if (!r.ok) { showProblems(document.getElementById("o-problems"), [{ message: r.error }]); return notice(r.error, "error"); }
    const entered = new Set(secrets().filter((i) => i.value).map((i) => i.dataset.secret));
    const missing = r.data.missing_secrets.filter((n) => !entered.has(n)).map((n) => ({ message: "enter the secret " + n }));
    showProblems(document.getElementById("o-problems"), r.data.problems.concat(missing));
    document.getElementById("o-sheet").textContent = r.data.pilot_sheet || "";
    if (r.data.valid && missing.length === 0) {
      composed = { tenant, text: made.data };
      live.disabled = false;
      notice("Valid. Read the pilot sheet, then make it live.", "ok");
    } else {
      notice("Not valid yet: see the problems below.", "error");
    }
  });
  live.addEventListener("click", async () => {
    if (!composed) return;
    live.disabled = true;
    for (const input of secrets().filter((i) => i.value)) {
      const r = await api("PUT", "/v1/tenants/" + composed.tenant + "/secrets/" + input.dataset.secret, JSON.stringify({ value: input.value }), "application/json");
      if (!r.ok) { live.disabled = false; return notice("Secret " + input.dataset.secret + ": " + r.error, "error"); }
      input.value = "";
    }
    const r = await api("PUT", "/v1/tenants/" + composed.tenant + "/policy", composed.text, "application/toml");
    if (!r.ok) { live.disabled = false; return notice("Not live: " + r.error, "error"); }
    window.location.assign("/console/clients/" + composed.tenant);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  tickClocks();
  setInterval(tickClocks, 1000);
  const editor = document.getElementById("policy-editor");
  if (editor) policyEditor(editor);
  const secret = document.getElementById("secret-form");
  if (secret) secretForm(secret);
  for (const form of document.querySelectorAll("form.upload")) uploadForm(form);
  const onboard = document.getElementById("onboard");
  if (onboard) onboarding(onboard);
});
