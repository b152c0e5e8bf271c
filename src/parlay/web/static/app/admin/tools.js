// Admin > Tools: each tool's switch, the reason users see, blocked keywords, and which calls
// wait for the user's approval (system calls, network, every call); whether it can run here.

import { api } from "../api.js";
import { formatTime, h, toast } from "../dom.js";
import { field, lines, nextId, run } from "./common.js";

const APPROVALS = [
  ["system_calls", "System calls", "code that imports os, subprocess, socket, ctypes… or opens files"],
  ["network", "Network", "every web search, page read and external tool call"],
  ["all", "Every call", "every call of this tool"],
];

function statusPill(tool) {
  if (!tool.enabled) return ["disabled", "off"];
  if (!tool.available) return ["unavailable", "off"];
  return ["enabled", "on"];
}

function toolCard(tool) {
  const enabled = h("input", { type: "checkbox", id: nextId("en"), checked: tool.enabled });
  const reason = h("input", { type: "text", maxlength: 500, value: tool.reason || "", placeholder: "Why it is off (users see this)" });
  const keywords = h("textarea", { rows: "2", value: tool.content_filter.disallowed_keywords.join("\n") });
  const boxes = new Map();
  const approvals = h("fieldset", { class: "approval-choices" }, h("legend", {}, "Ask the user to approve"),
    APPROVALS.map(([value, label, hint]) => {
      const box = h("input", { type: "checkbox", id: nextId("ap"), checked: tool.content_filter.require_approval_for.includes(value) });
      boxes.set(value, box);
      return h("div", { class: "check" }, box, h("label", { for: box.id }, label), h("p", { class: "muted small hint" }, hint));
    }));
  const [text, kind] = statusPill(tool);
  const status = h("span", { class: `pill ${kind}` }, text);
  const availability = h("p", { class: "small" }, tool.available ? "" : `Cannot run here: ${tool.unavailable_reason || "no reason given"}`);
  const save = h("button", { type: "submit", class: "button small primary" }, `Save ${tool.name}`);
  const form = h("form", { class: "card stack", "aria-label": tool.name, dataset: { tool: tool.id } },
    h("div", { class: "card-head" }, h("h2", {}, tool.name), status),
    h("p", { class: "muted small" }, `${tool.id} · ${tool.category}${tool.server_id ? " · from an MCP server" : ""}`),
    h("p", { class: "small tool-description" }, tool.description),
    availability,
    h("div", { class: "check" }, enabled, h("label", { for: enabled.id }, "Enabled")),
    field("Reason", reason),
    field("Blocked keywords (one per line)", keywords, "A call whose arguments contain one is refused."),
    approvals,
    h("p", { class: "muted small" }, tool.updated_by ? `Changed ${formatTime(tool.updated_at)} by ${tool.updated_by}` : ""),
    save);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(save, async () => {
      const requireApproval = APPROVALS.map(([value]) => value).filter((value) => boxes.get(value).checked);
      const body = { enabled: enabled.checked, reason: reason.value.trim() || null, content_filter: { disallowed_keywords: lines(keywords.value), require_approval_for: requireApproval } };
      const updated = (await api("PATCH", `/v1/admin/mcp/tools/${encodeURIComponent(tool.id)}`, { body })).data;
      const [label, pill] = statusPill(updated);
      status.textContent = label;
      status.className = `pill ${pill}`;
      keywords.value = updated.content_filter.disallowed_keywords.join("\n");
      for (const [value, box] of boxes) box.checked = updated.content_filter.require_approval_for.includes(value);
      toast(`${tool.name} saved`);
    }, `${tool.name} saved`);
  });
  return form;
}

export async function toolsPage() {
  const tools = (await api("GET", "/v1/admin/mcp/tools")).data;
  return h("div", { class: "stack" },
    h("p", { class: "muted small" }, "Users turn the built-in tools on for themselves in Settings; what you switch off here is off for everyone."),
    h("div", { class: "cards" }, tools.map(toolCard)));
}

