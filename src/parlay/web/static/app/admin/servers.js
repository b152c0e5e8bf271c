// Admin > MCP servers: register an external MCP server (URL, headers stored encrypted and
// shown by name only, which of its tools to take), see its tools and the last sync, sync,
// switch off, delete.

import { api } from "../api.js";
import { announce, confirmAction, formatTime, h, replaceChildren, toast } from "../dom.js";
import { check, errorText, field, lines, run } from "./common.js";

const NAME_HINT = "Lower-case letters, digits, - and _ (up to 32); its tools are named <name>__<tool>.";

/** "Authorization: Bearer x" lines -> {Authorization: "Bearer x"}; a bad line throws. */
export function parseHeaders(text) {
  const headers = {};
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`Header line ${index + 1} needs "Name: value".`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function registerForm(onCreated) {
  const name = h("input", { type: "text", required: true, maxlength: 32, pattern: "[a-z0-9][a-z0-9_\\-]{0,31}", autocomplete: "off" });
  const url = h("input", { type: "url", required: true, maxlength: 2000, placeholder: "https://mcp.example.com/mcp" });
  const headers = h("textarea", { rows: "2", autocomplete: "off", spellcheck: "false", placeholder: "Authorization: Bearer …" });
  const allowed = h("textarea", { rows: "2", placeholder: "every tool it offers" });
  const enabled = h("input", { type: "checkbox", id: "mcp-new-enabled", checked: true });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "button primary" }, "Register server");
  const form = h("form", { class: "card stack register-server", "aria-label": "Register an MCP server" },
    h("h2", {}, "Register an MCP server"),
    field("Name", name, NAME_HINT),
    field("URL (Streamable HTTP)", url),
    field("Headers (one “Name: value” per line)", headers, "Sent with every request, stored encrypted; only their names are shown afterwards."),
    field("Allowed tools (one per line or comma-separated)", allowed, "Empty: every tool the server offers."),
    h("div", { class: "check" }, enabled, h("label", { for: enabled.id }, "Enabled")),
    error, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    let body;
    try {
      body = { name: name.value.trim(), url: url.value.trim(), enabled: enabled.checked, headers: parseHeaders(headers.value) };
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
      return;
    }
    const tools = lines(allowed.value);
    if (tools.length) body.allowed_tools = tools;
    submit.disabled = true;
    try {
      const server = (await api("POST", "/v1/admin/mcp/servers", { body })).data;
      form.reset();
      announce(`${server.name} registered`);
      toast(server.last_error ? `${server.name} saved, but listing its tools failed: ${server.last_error}` : `${server.name} registered with ${server.tools.length} tools`, server.last_error ? "error" : "info");
      onCreated(server);
    } catch (err) {
      error.hidden = false;
      error.textContent = errorText(err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function serverCard(server, onDeleted) {
  const card = h("section", { class: "card stack", "aria-label": `MCP server ${server.name}`, dataset: { server: server.name } });
  const render = (s) => {
    const state = !s.enabled ? ["disabled", "off"] : s.last_error ? ["unreachable", "off"] : s.last_synced_at ? ["connected", "on"] : ["not synced", ""];
    const sync = h("button", { type: "button", class: "button small", onclick: () => run(sync, async () => {
      const updated = (await api("POST", `/v1/admin/mcp/servers/${encodeURIComponent(s.id)}/sync`)).data;
      render(updated);
      toast(updated.last_error ? `Sync failed: ${updated.last_error}` : `${s.name}: ${updated.tools.length} tools`, updated.last_error ? "error" : "info");
    }, `${s.name} synced`) }, `Sync ${s.name}`);
    const remove = h("button", { type: "button", class: "button small danger", onclick: async () => {
      if (!(await confirmAction(`Delete the MCP server ${s.name}? Its tools leave the registry for everyone.`))) return;
      if (await run(remove, () => api("DELETE", `/v1/admin/mcp/servers/${encodeURIComponent(s.id)}`), `${s.name} deleted`)) onDeleted(card);
    } }, `Delete ${s.name}`);
    const toggle = check("Enabled", s.enabled, async (event) => {
      const box = event.target;
      box.disabled = true;
      try {
        render((await api("PATCH", `/v1/admin/mcp/servers/${encodeURIComponent(s.id)}`, { body: { enabled: box.checked } })).data);
        announce(`${s.name} ${box.checked ? "enabled" : "disabled"}`);
      } catch (error) {
        box.checked = !box.checked;
        box.disabled = false;
        toast(error.message, "error");
      }
    }, `${s.name} enabled`);
    replaceChildren(card,
      h("div", { class: "card-head" }, h("h2", {}, s.name), h("span", { class: `pill ${state[1]}` }, state[0])),
      h("p", { class: "small server-url" }, s.url),
      h("p", { class: "small" }, `Headers: ${s.header_names.length ? s.header_names.join(", ") : "none"}`),
      h("p", { class: "small" }, `Allowed tools: ${s.allowed_tools ? s.allowed_tools.join(", ") || "none" : "all"}`),
      h("div", {}, h("h3", { class: "small-heading" }, `Tools (${s.tools.length})`),
        s.tools.length
          ? h("ul", { class: "server-tools" }, s.tools.map((id) => h("li", {}, h("a", { href: "#/admin/tools" }, id))))
          : h("p", { class: "muted small" }, "None listed.")),
      h("p", { class: "muted small" }, s.last_synced_at ? `Last synced ${formatTime(s.last_synced_at)}` : "Never synced", s.last_error ? ` · last error: ${s.last_error}` : ""),
      h("div", { class: "card-actions" }, toggle, sync, remove));
  };
  render(server);
  return card;
}

export async function serversPage() {
  const servers = (await api("GET", "/v1/admin/mcp/servers")).data;
  const empty = h("p", { class: "muted" }, "No MCP server is registered.");
  const list = h("div", { class: "cards server-list" });
  const removed = (card) => {
    card.remove();
    empty.hidden = list.childElementCount > 0;
  };
  list.append(...servers.map((s) => serverCard(s, removed)));
  empty.hidden = servers.length > 0;
  const form = registerForm((server) => {
    list.prepend(serverCard(server, removed));
    empty.hidden = true;
  });
  return h("div", { class: "stack" },
    h("p", { class: "muted small" }, "The tools of an external MCP server join the registry beside the built-ins, enabled, filtered and approved the same way (Tools tab)."),
    empty, list, form);
}
