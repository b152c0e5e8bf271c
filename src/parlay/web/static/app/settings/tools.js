// Settings > Tools: the user's switches for Parlay's built-in tools (saved at once), and for
// every tool whether it can be used here, from the user's tool catalog (GET /v1/tools: the
// tools an admin enabled and these switches allow, unavailable ones with the reason).

import { api } from "../api.js";
import { announce, h, replaceChildren, toast } from "../dom.js";
import { labelled } from "./fields.js";

const SWITCHES = [
  { key: "web_search_enabled", label: "Allow web search and page reading", tools: [["web_search", "Web search"], ["web_scraper", "Page reading"]] },
  { key: "code_execution_enabled", label: "Allow running code", tools: [["code_executor", "Running Python code in a sandbox"]] },
];
const BUILTINS = new Set(SWITCHES.flatMap((s) => s.tools.map(([id]) => id)));

function stateOf(tool, switchedOn) {
  if (!switchedOn) return { text: "off: turn it on above", kind: "" };
  if (!tool) return { text: "turned off by an admin", kind: "off" };
  if (!tool.available) return { text: `unavailable here: ${tool.unavailable_reason || "no reason given"}`, kind: "off" };
  return { text: "ready", kind: "on" };
}

function statusRow(label, state, id) {
  return h("li", { class: "tool-status", dataset: { tool: id } },
    h("span", {}, label), " ", h("span", { class: `pill ${state.kind}` }, state.text));
}

export function toolsPanel(app) {
  const catalog = h("div", { class: "stack", "aria-live": "polite" }, h("p", { class: "muted small" }, "Checking the tools…"));
  const advanced = () => app.settings.advanced_settings;

  const refresh = async () => {
    let tools;
    try {
      tools = (await api("GET", "/v1/tools")).data;
    } catch (error) {
      replaceChildren(catalog, h("p", { class: "form-error" }, `The tools could not be listed: ${error.message}`));
      return;
    }
    const byId = new Map(tools.map((t) => [t.id, t]));
    for (const group of SWITCHES) {
      const list = panel.querySelector(`[data-group="${group.key}"]`);
      replaceChildren(list, group.tools.map(([id, label]) => statusRow(label, stateOf(byId.get(id), advanced()[group.key]), id)));
    }
    const others = tools.filter((t) => !BUILTINS.has(t.id));
    replaceChildren(catalog, others.length
      ? [h("h3", {}, "Tools from MCP servers"),
        h("p", { class: "muted small" }, "Added by an admin; replies may use them when a client asks for them."),
        h("ul", { class: "tool-statuses" }, others.map((t) => statusRow(t.name || t.id, t.available ? { text: "ready", kind: "on" } : { text: `unavailable: ${t.unavailable_reason || "no reason given"}`, kind: "off" }, t.id)))]
      : []);
  };

  const toggle = async (group, box) => {
    box.disabled = true;
    try {
      app.settings = (await api("PATCH", "/v1/users/me/settings", { body: { advanced_settings: { [group.key]: box.checked } } })).data;
      announce(`${group.label}: ${box.checked ? "on" : "off"}`);
    } catch (error) {
      box.checked = !box.checked;
      toast(error.message, "error");
    } finally {
      box.disabled = false;
    }
    await refresh();
  };

  const panel = h("div", { class: "stack tools-settings" },
    h("p", { class: "muted small" }, "Replies in your chats may use these tools. An admin decides which tools exist; these switches decide which you allow. Saved as you switch."),
    SWITCHES.map((group) => {
      const box = h("input", { type: "checkbox", checked: Boolean(advanced()[group.key]), onchange: () => toggle(group, box) });
      const legend = group.label.replace(/^Allow /, "").replace(/^./, (c) => c.toUpperCase());
      return h("fieldset", {}, h("legend", {}, legend),
        labelled(group.label, box),
        h("ul", { class: "tool-statuses", dataset: { group: group.key }, "aria-label": `${legend}: tool status` }));
    }),
    catalog);
  refresh();
  return panel;
}
