// The console, end to end, in headless Chromium against a real server on loopback
// (started by tests/console.rs, which passes BASE, ADMIN, OUT and CHROMIUM).
// Exits non-zero, naming the step, on the first thing that does not hold.
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const { BASE, ADMIN, OUT, CHROMIUM, OTHER_CASE, CANDIDATE } = process.env;
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TENANT = "acme-heating";
const steps = [];
const pages = [];

function step(name) {
  steps.push(name);
  console.log("step: " + name);
}

function check(ok, what) {
  if (!ok) throw new Error(what);
}

// Signs and sends a missed-call signal as a call-tracking tool would (Standard Webhooks).
async function missedCall(tenant, caller) {
  const body = JSON.stringify({ kind: "missed-call", caller, line: "+15125550200", context: { name: "Dana", message: "no heat upstairs" } });
  const id = "msg_" + Date.now();
  const ts = String(Math.floor(Date.now() / 1000));
  const key = Buffer.from(SECRET.slice("whsec_".length), "base64");
  const sig = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
  const r = await fetch(`${BASE}/v1/tenants/${tenant}/signals`, {
    method: "POST",
    headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": "v1," + sig },
    body,
  });
  const answer = await r.json();
  check(r.status === 202 || r.status === 200, "signal refused: " + JSON.stringify(answer));
  return answer.case;
}

// The page's weight (document + its script and style) and the server's time for it.
async function measure(page, name) {
  const m = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const assets = performance.getEntriesByType("resource").filter((r) => r.name.includes("/console/assets/"));
    const sum = (key) => assets.reduce((n, r) => n + (r[key] || 0), 0);
    return {
      html_gzip: nav.encodedBodySize, html: nav.decodedBodySize,
      assets_gzip: sum("encodedBodySize"), assets: sum("decodedBodySize"),
      server_ms: nav.responseStart - nav.requestStart,
    };
  });
  pages.push({ page: name, ...m });
}

async function shot(page, file) {
  await page.screenshot({ path: join(OUT, file), fullPage: true });
}

let failed = null;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on("pageerror", (e) => console.log("page error: " + e.message));
  page.on("console", (m) => m.type() === "error" && console.log("page console: " + m.text()));
  failed = page;

  step("an unsigned visit is sent to the sign-in page");
  await page.goto(BASE + "/console");
  check(page.url().endsWith("/console/sign-in"), "not redirected: " + page.url());
  check((await page.evaluate(() => document.activeElement.id)) === "token", "the token field does not have the focus");

  step("a wrong token is refused");
  await page.fill("#token", "not-a-token");
  await page.click("button[type=submit]");
  check((await page.textContent(".error")).includes("not known"), "no refusal shown");

  step("the agency signs in with the admin token");
  await page.fill("#token", ADMIN);
  await page.press("#token", "Enter");
  await page.waitForURL(BASE + "/console");
  check(await page.isVisible('tr[data-tenant="lone-star-hvac"]'), "the overview lacks lone-star-hvac");
  await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement.textContent)) === "Skip to content", "the first Tab does not reach the skip link");
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "redial_session");
  check(session && session.httpOnly && session.sameSite === "Strict", "the session cookie is not HttpOnly/Strict");

  step("onboard a client from the HVAC template");
  const onboardStart = Date.now();
  await page.click("text=Onboard a client");
  await page.selectOption("#o-template", "hvac");
  await page.fill("#o-tenant", TENANT);
  await page.fill("#o-name", "Acme Heating");
  await page.fill("#o-timezone", "America/Chicago");
  await page.fill("#o-start", "00:00");
  await page.fill("#o-end", "24:00");
  await page.fill("#o-owners", "pat@acme-heating.example\nlee@acme-heating.example");
  await page.fill("#o-escalate", "boss@acme-heating.example");
  await page.click("#o-preview");
  await page.waitForSelector("#o-problems li");
  check((await page.textContent("#o-problems")).includes("signing"), "a missing signing secret is not named");
  await page.fill("#s-signing", SECRET);
  await page.click("#o-preview");
  await page.waitForFunction(() => document.getElementById("o-sheet").textContent.includes("Pilot sheet"));
  const sheet = await page.textContent("#o-sheet");
  check(sheet.includes("Acme Heating") && sheet.includes("pat@acme-heating.example"), "the pilot sheet is not the new client's: " + sheet);
  check(await page.isEnabled("#o-live"), "a valid preview does not enable going live");
  await measure(page, "onboard");
  await page.click("#o-live");
  await page.waitForURL(`${BASE}/console/clients/${TENANT}`);
  const onboardMs = Date.now() - onboardStart;

  step("a missed call reaches its handoff on the simulator");
  const caseId = await missedCall(TENANT, "+15125550123");
  for (let i = 0; i < 60; i++) {
    await page.reload();
    if (await page.isVisible(`#handoffs tr[data-case="${caseId}"]`)) break;
    await page.waitForTimeout(500);
  }
  check(await page.isVisible(`#handoffs tr[data-case="${caseId}"]`), "the case never showed as an open handoff");
  check(/left|overdue/.test(await page.textContent(`#handoffs tr[data-case="${caseId}"] .sla`)), "no SLA clock");
  check((await page.textContent("figure.funnel title")).includes("Handed off 1"), "the funnel does not count the handoff");
  await measure(page, "client");
  await shot(page, "client.png");

  step("the case timeline shows the journal");
  await page.click(`#cases a[href="/console/cases/${caseId}"]`);
  await page.waitForSelector("#timeline li");
  const timeline = await page.textContent("#timeline");
  check(timeline.includes("missed call") && timeline.includes("handed off to"), "timeline: " + timeline);
  await measure(page, "case");
  await shot(page, "case-timeline.png");

  step("the owner's handoff is acknowledged");
  await page.click("text=Acknowledge the handoff");
  await page.waitForFunction(() => document.getElementById("case-state").textContent.includes("acknowledged"));
  await page.goto(`${BASE}/console/clients/${TENANT}`);
  check(!(await page.isVisible(`#handoffs tr[data-case="${caseId}"]`)), "the acknowledged handoff is still open");

  step("the overview row counts it");
  await page.goto(BASE + "/console?sort=name");
  const row = page.locator(`tr[data-tenant="${TENANT}"]`);
  const cells = await row.locator("td").allTextContents();
  check(cells[0].includes("Healthy"), "health: " + cells.join(" | "));
  check(cells[1] === "1 / 1" && cells[2] === "1 / 1", "signals, cases: " + cells.join(" | "));
  check(cells[5] === "1 / 1" && cells[6] === "100% / 100%", "handed off, SLA met: " + cells.join(" | "));
  check((await row.getAttribute("class")) === "healthy", "the new client is not healthy");
  await measure(page, "overview");
  await shot(page, "overview.png");
  const hvac = page.locator('tr[data-tenant="lone-star-hvac"]');
  check((await hvac.getAttribute("class")) === "attention", "the client with a dead letter is not marked");
  check((await hvac.textContent()).includes("1 dead letter"), "the mark does not say why");
  await page.check('input[name="attention"]');
  await page.click("text=Apply");
  const marked = await page.locator("#clients tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.tenant));
  check(marked.length === 1 && marked[0] === "lone-star-hvac", "needs attention only: " + marked);
  await page.goto(BASE + "/console?q=acme");
  check((await page.locator("#clients tbody tr").count()) === 1, "the filter keeps other clients");
  await page.goto(BASE + "/console/clients/lone-star-hvac");
  check((await page.textContent("#dead")).includes("HTTP 503"), "the dead letter is not listed with its error");

  step("the policy editor places an error at its line and keeps the live policy");
  await page.goto(`${BASE}/console/clients/${TENANT}/policy`);
  await measure(page, "policy");
  const source = await page.inputValue("#policy-text");
  const lines = source.split("\n").length;
  await page.fill("#policy-text", source + "\nmax_questions = = 2\n");
  await page.click("#policy-save");
  await page.waitForSelector("#policy-problems li");
  check((await page.textContent("#policy-problems")).includes("Line " + (lines + 1)), "no error at line " + (lines + 1));
  check((await page.textContent("#notice")).includes("Not saved"), "a refused policy looked saved");

  step("a trigger goes on shadow trial from the plugins page, is promoted, then rolled back");
  page.on("dialog", (d) => d.accept());
  await page.goto(`${BASE}/console/clients/${TENANT}/plugins`);
  check((await page.locator("section.slot").count()) === 4, "not four slots");
  await page.setInputFiles("#file-trigger", CANDIDATE);
  await page.selectOption("#mode-trigger", "shadow");
  await page.click("#slot-trigger button[type=submit]");
  await page.waitForSelector("#slot-trigger .trial");
  await missedCall(TENANT, "+15125550124");
  let compared = "";
  for (let i = 0; i < 60 && !/[1-9]\d* decisions? compared/.test(compared); i++) {
    await page.waitForTimeout(500);
    await page.reload();
    compared = await page.textContent("#slot-trigger .trial");
  }
  check(/[1-9]\d* decisions? compared/.test(compared), "the shadow compared nothing: " + compared);
  await measure(page, "plugins");
  await shot(page, "plugins.png");
  await page.click("#slot-trigger >> text=Promote to live");
  await page.waitForFunction(() => document.querySelector("#slot-trigger").textContent.includes("(live)"));
  check(!(await page.isVisible("#slot-trigger .trial")), "the trial outlived its promotion");
  await page.click("#slot-trigger >> text=Roll back");
  await page.waitForFunction(() => document.querySelector("#slot-trigger p").textContent.includes("standard-trigger"));

  step("at phone width the overview still works");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(BASE + "/console");
  await shot(page, "overview-phone.png");

  step("a client's own token sees only that client");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${BASE}/console/clients/${TENANT}`);
  await page.click("text=Issue a token for this client");
  await page.waitForFunction(() => document.getElementById("token-out").textContent.includes("rdl_"));
  const token = (await page.textContent("#token-out")).match(/rdl_[0-9a-f]+/)[0];
  await page.click("text=Sign out");
  await page.waitForURL(BASE + "/console/sign-in");
  await page.fill("#token", token);
  await page.press("#token", "Enter");
  await page.waitForURL(`${BASE}/console/clients/${TENANT}`);
  await page.goto(BASE + "/console");
  const tenants = await page.locator("#clients tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.tenant));
  check(tenants.length === 1 && tenants[0] === TENANT, "a client sees other rows: " + tenants);
  const other = await page.goto(BASE + "/console/clients/lone-star-hvac");
  check(other.status() === 403, "another client's page answered " + other.status());
  const otherCase = await page.goto(BASE + "/console/cases/" + OTHER_CASE);
  check(otherCase.status() === 404, "another client's case answered " + otherCase.status());
  const api = await page.evaluate(async () => (await fetch("/v1/tenants/lone-star-hvac/cases")).status);
  check(api === 403, "the API answered another client's cases with " + api);
  const forged = await page.evaluate(async (c) => (await fetch(`/v1/cases/${c}/ack`, { method: "POST" })).status, caseId);
  check(forged === 403, "a change without the CSRF token answered " + forged);
  check((await page.goto(BASE + "/console/onboard")).status() === 403, "a client may onboard");

  writeFileSync(join(OUT, "pages.json"), JSON.stringify({ steps, pages, onboard_ms: onboardMs }, null, 2));
  console.log("onboarding took " + onboardMs + " ms; pages: " + JSON.stringify(pages));
} catch (e) {
  console.error(`failed after step "${steps[steps.length - 1]}": ${e.stack || e}`);
  if (failed) {
    console.error("notice: " + (await failed.textContent("#notice").catch(() => "")));
    await failed.screenshot({ path: join(OUT, "failure.png"), fullPage: true }).catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
