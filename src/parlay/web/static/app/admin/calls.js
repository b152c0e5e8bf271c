// Admin > Tool calls: the log of every tool call (who, which tool, from where, how it ended,
// how long it took; never arguments or output), newest first, filtered, paged.

import { api } from "../api.js";
import { formatTime, h, replaceChildren, toast } from "../dom.js";
import { field, table } from "./common.js";

const PAGE = 50;
const STATUSES = ["completed", "failed", "refused", "pending_approval"];

export async function callsPage() {
  const tool = h("input", { type: "text", maxlength: 64, placeholder: "any" });
  const status = h("select", {}, h("option", { value: "" }, "any"), STATUSES.map((s) => h("option", { value: s }, s.replace("_", " "))));
  const user = h("input", { type: "text", maxlength: 40, placeholder: "any" });
  const results = h("div", { class: "stack" });
  let offset = 0;

  const load = async () => {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (tool.value.trim()) params.set("tool", tool.value.trim());
    if (status.value) params.set("status", status.value);
    if (user.value.trim()) params.set("user_id", user.value.trim());
    const page = await api("GET", `/v1/admin/tool-calls?${params}`);
    const rows = page.data.map((c) => h("tr", { dataset: { status: c.status } },
      h("td", {}, h("time", { datetime: c.created_at, title: c.created_at }, formatTime(c.created_at))),
      h("th", { scope: "row" }, c.tool),
      h("td", {}, h("span", { class: `pill ${c.status === "completed" ? "on" : c.status === "pending_approval" ? "" : "off"}` }, c.status.replace("_", " ")), c.error_code ? h("div", { class: "muted small" }, c.error_code) : null),
      h("td", {}, c.source),
      h("td", { class: "number" }, `${c.duration_ms.toLocaleString()} ms`),
      h("td", { class: "muted small" }, c.user_id)));
    replaceChildren(results,
      table("Tool calls", ["When", "Tool", "Outcome", "From", "Took", "User"], rows),
      h("div", { class: "pager" },
        offset > 0 ? h("button", { type: "button", class: "button small", onclick: () => { offset = Math.max(0, offset - PAGE); reload(); } }, "Previous page") : null,
        page.has_more ? h("button", { type: "button", class: "button small", onclick: () => { offset += PAGE; reload(); } }, "Next page") : null));
  };

  const reload = () => load().catch((error) => toast(error.message, "error"));
  const filters = h("form", { class: "filters", "aria-label": "Filter tool calls" },
    field("Tool", tool), field("Outcome", status), field("User id", user),
    h("button", { type: "submit", class: "button small" }, "Filter"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    offset = 0;
    reload();
  });
  await load();
  return h("div", { class: "stack" }, filters, results);
}
