// Admin pages (loaded only for admins): tools, MCP servers, the tool call log, models,
// providers, users, usage.

import { api } from "../api.js";
import { announce, formatTime, h, icon, replaceChildren, toast } from "../dom.js";
import { callsPage } from "./calls.js";
import { check, number, run, table } from "./common.js";
import { serversPage } from "./servers.js";
import { toolsPage } from "./tools.js";

const TABS = [
  ["tools", "Tools"],
  ["servers", "MCP servers"],
  ["calls", "Tool calls"],
  ["models", "Models"],
  ["providers", "Providers"],
  ["users", "Users"],
  ["usage", "Usage"],
];

export class AdminView {
  constructor(app) {
    this.app = app;
    this.tabs = h("nav", { class: "admin-tabs", "aria-label": "Admin sections" },
      TABS.map(([id, label]) => h("a", { href: `#/admin/${id}`, class: "tab", dataset: { tab: id } }, label)));
    this.body = h("div", { class: "admin-body" });
    this.heading = h("h1", { class: "chat-title" }, "Admin");
    const menuButton = h("button", { type: "button", class: "icon-button menu-button", "aria-label": "Show chats", title: "Chats", onclick: () => document.body.classList.add("sidebar-open") }, icon("menu"));
    this.element = h("section", { class: "admin" }, h("header", { class: "chat-header" }, menuButton, this.heading), this.tabs, this.body);
  }

  async show(tab) {
    const known = TABS.find(([id]) => id === tab) ? tab : "tools";
    for (const link of this.tabs.querySelectorAll("a")) {
      if (link.dataset.tab === known) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    this.heading.textContent = `Admin · ${TABS.find(([id]) => id === known)[1]}`;
    document.title = `${this.heading.textContent} · Parlay`;
    replaceChildren(this.body, h("p", { class: "muted" }, "Loading…"));
    try {
      replaceChildren(this.body, await this[known]());
    } catch (error) {
      replaceChildren(this.body, h("p", { class: "form-error", role: "alert" }, error.message));
    }
  }

  tools() {
    return toolsPage();
  }

  servers() {
    return serversPage();
  }

  calls() {
    return callsPage();
  }

  // -- models and providers -------------------------------------------------------------------

  async models() {
    const models = (await api("GET", "/v1/models/catalogs")).data;
    const rows = models.map((m) => h("tr", {},
      h("th", { scope: "row" }, m.name || m.id, h("div", { class: "muted small" }, m.id)),
      h("td", {}, m.provider),
      h("td", {}, h("span", { class: `pill ${m.available ? "on" : "off"}` }, m.available ? "reachable" : "unreachable")),
      h("td", {}, m.capabilities.join(", ") || "—"),
      h("td", {}, check("Enabled", m.enabled, async (event) => {
        const box = event.target;
        box.disabled = true;
        try {
          await api("PATCH", `/v1/admin/models/catalogs/${encodeURIComponent(m.id)}`, { body: { enabled: box.checked } });
          announce(`${m.id} ${box.checked ? "enabled" : "disabled"}`);
          await this.app.loadCatalog();
          this.app.chat?.renderModels();
        } catch (error) {
          box.checked = !box.checked;
          toast(error.message, "error");
        } finally {
          box.disabled = false;
        }
      }, `${m.id} enabled`))));
    return table("Models in the catalog", ["Model", "Provider", "Status", "Capabilities", "Switch"], rows);
  }

  async providers() {
    const providers = (await api("GET", "/v1/admin/providers")).data;
    return h("div", { class: "cards" }, providers.map((p) => {
      const state = h("span", { class: `pill ${p.available ? "on" : p.available === false ? "off" : ""}` }, p.available ? "reachable" : p.available === false ? "unreachable" : "not checked yet");
      const detail = h("p", { class: "muted small" }, this.providerDetail(p));
      const sync = h("button", { type: "button", class: "button small", onclick: () => run(sync, async () => {
        const updated = (await api("POST", `/v1/admin/providers/${encodeURIComponent(p.id)}/sync`)).data;
        state.textContent = updated.available ? "reachable" : "unreachable";
        state.className = `pill ${updated.available ? "on" : "off"}`;
        detail.textContent = this.providerDetail(updated);
        await this.app.loadCatalog();
        this.app.chat?.renderModels();
      }, `${p.name} synced`) }, `Sync ${p.name}`);
      return h("section", { class: "card stack", "aria-label": p.name },
        h("div", { class: "card-head" }, h("h2", {}, p.name), state),
        h("p", { class: "small" }, `${p.base_url || "embedded"} · source: ${p.source}${p.read_only ? " (read-only)" : ""}`),
        detail,
        h("p", { class: "small" }, `Models: ${p.models.join(", ") || "none"}`),
        sync);
    }));
  }

  providerDetail(p) {
    const parts = [];
    if (p.last_synced_at) parts.push(`synced ${formatTime(p.last_synced_at)}`);
    if (p.last_error) parts.push(`last error: ${p.last_error}`);
    return parts.join(" · ") || "never synced";
  }

  // -- users ----------------------------------------------------------------------------------

  async users(offset = 0) {
    const page = await api("GET", `/v1/admin/users?limit=50&offset=${offset}`);
    const rows = page.data.map((u) => {
      const self = u.id === this.app.me.id;
      const role = h("select", { "aria-label": `Role of ${u.email || u.id}`, disabled: self, onchange: async () => {
        try {
          await api("PATCH", `/v1/admin/users/${u.id}`, { body: { role: role.value } });
          announce(`Role changed to ${role.value}`);
        } catch (error) {
          role.value = u.role;
          toast(error.message, "error");
        }
      } }, ["guest", "user", "admin"].map((r) => h("option", { value: r, selected: r === u.role }, r)));
      const disabled = check("Disabled", u.disabled, async (event) => {
        const box = event.target;
        try {
          await api("PATCH", `/v1/admin/users/${u.id}`, { body: { disabled: box.checked } });
          announce(box.checked ? "User disabled" : "User enabled");
        } catch (error) {
          box.checked = !box.checked;
          toast(error.message, "error");
        }
      }, `${u.email || u.id} disabled`);
      if (self) disabled.querySelector("input").disabled = true;
      return h("tr", {},
        h("th", { scope: "row" }, u.email || u.display_name || "guest", h("div", { class: "muted small" }, u.id)),
        h("td", {}, role), h("td", {}, disabled), h("td", {}, formatTime(u.created_at)));
    });
    const more = page.has_more
      ? h("button", { type: "button", class: "button small", onclick: async () => replaceChildren(this.body, await this.users(offset + 50)) }, "Next page")
      : null;
    const back = offset > 0
      ? h("button", { type: "button", class: "button small", onclick: async () => replaceChildren(this.body, await this.users(Math.max(0, offset - 50))) }, "Previous page")
      : null;
    return h("div", {}, table("Users", ["User", "Role", "Account", "Created"], rows), h("div", { class: "pager" }, back, more));
  }

  // -- usage ----------------------------------------------------------------------------------

  async usage() {
    const report = (await api("GET", "/v1/admin/usage?days=30&top=20")).data;
    const t = report.totals;
    const stat = (label, value) => h("div", { class: "stat" }, h("div", { class: "stat-value" }, number(value)), h("div", { class: "muted small" }, label));
    return h("div", { class: "stack" },
      h("p", { class: "muted" }, `From ${report.start_date} to ${report.end_date} (UTC), every user.`),
      h("div", { class: "stats" }, stat("requests", t.requests), stat("prompt tokens", t.prompt_tokens), stat("completion tokens", t.completion_tokens), stat("total tokens", t.total_tokens)),
      table("By model", ["Model", "Requests", "Prompt", "Completion", "Total"], report.by_model.map((m) => h("tr", {},
        h("th", { scope: "row" }, m.model), h("td", {}, number(m.requests)), h("td", {}, number(m.prompt_tokens)), h("td", {}, number(m.completion_tokens)), h("td", {}, number(m.total_tokens))))),
      table("Heaviest users", ["User", "Role", "Requests", "Total tokens"], report.by_user.map((u) => h("tr", {},
        h("th", { scope: "row" }, u.email || u.user_id), h("td", {}, u.role), h("td", {}, number(u.requests)), h("td", {}, number(u.total_tokens))))));
  }
}
