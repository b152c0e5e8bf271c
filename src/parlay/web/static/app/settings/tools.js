// Settings > Tools: the user's switches for Parlay's built-in tools (web search and page
// reading, running code), a switch for each tool on its own (built-ins and tools of MCP
// servers alike: advanced_settings.disabled_tools), all saved at once, and each tool's state
// from the user's tool catalog (GET /v1/tools: every tool an admin enabled, whether the
// user's settings allow it, unavailable ones with the reason).

import { api } from "../api.js";
import { announce, h, replaceChildren, toast } from "../dom.js";
import { labelled } from "./fields.js";

const SWITCHES = [
  { key: "web_search_enabled", label: "Allow web search and page reading", tools: [["web_search", "Web search"], ["web_scraper", "Page reading"]] },
  { key: "code_execution_enabled", label: "Allow running code", tools: [["code_executor", "Running Python code in a sandbox"]] },
];
const BUILTINS = new Set(SWITCHES.flatMap((s) => s.tools.map(([id]) => id)));

function stateOf(tool, groupOn, turnedOff) {
  if (!tool) return { text: "turned off by an admin", kind: "off" };
  if (!groupOn) return { text: "off: turn it on above", kind: "" };
  if (turnedOff) return { text: "off", kind: "" };
  if (!tool.available) return { text: `unavailable here: ${tool.unavailable_reason || "no reason given"}`, kind: "off" };
  return { text: "ready", kind: "on" };
}

export function toolsPanel(app) {
  const catalog = h("div", { class: "stack", "aria-live": "polite" }, h("p", { class: "muted small" }, "Checking the tools…"));
  const advanced = () => app.settings.advanced_settings;
  const disabled = () => new Set(advanced().disabled_tools || []);
  let byId = new Map();

  const save = async (changes, box, said, focusTool = null) => {
    box.disabled = true;
    try {
      app.settings = (await api("PATCH", "/v1/users/me/settings", { body: { advanced_settings: changes } })).data;
      announce(said);
    } catch (error) {
      box.checked = !box.checked;
      toast(error.message, "error");
    } finally {
      box.disabled = false;
    }
    await refresh();
    if (focusTool) panel.querySelector(`[data-tool="${focusTool}"] input`)?.focus(); // its row was redrawn
  };

  const toggleTool = (id, label, box) => {
    const ids = disabled();
    if (box.checked) ids.delete(id);
    else ids.add(id);
    return save({ disabled_tools: [...ids] }, box, `${label}: ${box.checked ? "on" : "off"}`, id);
  };

  // One tool: its own switch (on unless listed in disabled_tools) and its state.
  const toolRow = (id, label, groupOn, hint) => {
    const off = disabled().has(id);
    const box = h("input", { type: "checkbox", checked: !off, onchange: () => toggleTool(id, label, box) });
    const state = stateOf(byId.get(id), groupOn, off);
    return h("li", { class: "tool-status", dataset: { tool: id } },
      labelled(label, box), hint ? h("span", { class: "muted small" }, hint) : null,
      " ", h("span", { class: `pill ${state.kind}` }, state.text));
  };

  const refresh = async () => {
    let tools;
    try {
      tools = (await api("GET", "/v1/tools")).data;
    } catch (error) {
      replaceChildren(catalog, h("p", { class: "form-error" }, `The tools could not be listed: ${error.message}`));
      return;
    }
    byId = new Map(tools.map((t) => [t.id, t]));
    for (const group of SWITCHES) {
      const list = panel.querySelector(`[data-group="${group.key}"]`);
      replaceChildren(list, group.tools.map(([id, label]) => toolRow(id, label, advanced()[group.key])));
    }
    const others = tools.filter((t) => !BUILTINS.has(t.id));
    replaceChildren(catalog, others.length
      ? h("fieldset", {}, h("legend", {}, "Tools from MCP servers"),
        h("p", { class: "muted small" }, "Added by an admin; replies may use the ones you leave on when a client asks for them."),
        h("ul", { class: "tool-statuses", dataset: { group: "mcp" }, "aria-label": "Tools from MCP servers" },
          others.map((t) => toolRow(t.id, t.name || t.id, true, t.name && t.name !== t.id ? t.id : null))))
      : []);
  };

  const panel = h("div", { class: "stack tools-settings" },
    h("p", { class: "muted small" }, "Replies in your chats may use these tools. An admin decides which tools exist; these switches decide which you allow, each tool on its own too. Saved as you switch."),
    SWITCHES.map((group) => {
      const box = h("input", { type: "checkbox", checked: Boolean(advanced()[group.key]),
        onchange: () => save({ [group.key]: box.checked }, box, `${group.label}: ${box.checked ? "on" : "off"}`) });
      const legend = group.label.replace(/^Allow /, "").replace(/^./, (c) => c.toUpperCase());
      return h("fieldset", {}, h("legend", {}, legend),
        labelled(group.label, box),
        h("ul", { class: "tool-statuses", dataset: { group: group.key }, "aria-label": `${legend}: each tool` }));
    }),
    catalog);
  refresh();
  return panel;
}
