// One call through a client generated from Redial's /openapi.json (openapi-typescript for
// the types, openapi-fetch for the calls): the tenants, then one tenant's funnel. It
// compiles only if the document describes these routes and bodies as this code uses them.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type TenantSummary = components["schemas"]["TenantSummary"];

const base = process.env.REDIAL_URL ?? "http://127.0.0.1:8080";
const token = process.env.REDIAL_TOKEN ?? "";
const client = createClient<paths>({
  baseUrl: base,
  headers: { Authorization: `Bearer ${token}` },
});

const tenants = await client.GET("/v1/tenants");
if (tenants.error) {
  throw new Error(`listTenants refused: ${tenants.error.error.code} ${tenants.error.error.message}`);
}
const list: TenantSummary[] = tenants.data.tenants;
const first = list[0];
if (!first) throw new Error("no tenants");

const funnel = await client.GET("/v1/tenants/{tenant}/funnel", {
  params: { path: { tenant: first.tenant } },
});
if (funnel.error) throw new Error(`funnel refused: ${funnel.error.error.message}`);
const signals: number = funnel.data.funnel.signals;
const sla: number | null = funnel.data.sla_met_pct;

console.log(JSON.stringify({ tenants: list.map((t) => t.tenant), first: first.tenant, signals, sla }));
