// The settings dialog, in tabs: General (appearance, profile, default model), Memory (what
// replies may recall, and the memories themselves), Tools (which tools replies may use, and
// whether each can run here), Account (a guest upgrades here and keeps every chat).

import { api, signOut, upgradeGuest } from "../api.js";
import { announce, h, modal, toast } from "../dom.js";
import { applyTheme } from "../settings.js";
import { labelled, tabs, textInput } from "./fields.js";
import { memoryPanel } from "./memory.js";
import { toolsPanel } from "./tools.js";

const STYLES = ["Concise", "Friendly", "Professional", "Candid", "Quirky", "Efficient", "Nerdy", "Cynical"];
const textOrNull = (control) => (control.value.trim() ? control.value.trim() : null);

function themeSection() {
  const current = document.documentElement.dataset.theme || "system";
  const select = h("select", { onchange: () => {
    applyTheme(select.value);
    api("PATCH", "/v1/users/me/settings/preferences", { body: { theme: select.value === "system" ? null : select.value } }).catch(() => {});
  } }, [["system", "Follow the system"], ["light", "Light"], ["dark", "Dark"]].map(([value, label]) => h("option", { value, selected: value === current }, label)));
  return h("fieldset", {}, h("legend", {}, "Appearance"), labelled("Theme", select));
}

function generalPanel(app, close) {
  const s = app.settings;
  const p = s.profile_settings;
  const style = h("select", {}, STYLES.map((name) => h("option", { value: name, selected: name === (p.base_style || "Friendly") }, name)));
  const nick = textInput(p.nick_name, 100);
  const occupation = textInput(p.occupation, 200);
  const about = textInput(p.more_about_you, 2000, true);
  const instructions = textInput(p.custom_instructions, 4000, true);
  const defaultModel = h("select", {},
    h("option", { value: "" }, "Server default"),
    app.chatModels().map((model) => h("option", { value: model.id, selected: model.id === s.advanced_settings.default_model, disabled: !(model.available && model.enabled) }, model.name || model.id)));
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "stack settings-form", "aria-label": "Your settings" },
    h("fieldset", {}, h("legend", {}, "Profile"),
      h("p", { class: "muted small" }, "Shapes every reply once you change it."),
      labelled("Reply style", style), labelled("What should replies call you?", nick),
      labelled("Occupation", occupation), labelled("More about you", about),
      labelled("Custom instructions", instructions)),
    h("fieldset", {}, h("legend", {}, "Model"), labelled("Default model for new chats", defaultModel)),
    error,
    h("div", { class: "dialog-actions" }, h("button", { type: "submit", class: "button primary" }, "Save settings")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      profile_settings: { base_style: style.value, nick_name: textOrNull(nick), occupation: textOrNull(occupation), more_about_you: textOrNull(about), custom_instructions: textOrNull(instructions) },
      advanced_settings: { default_model: defaultModel.value || null },
    };
    try {
      app.settings = (await api("PATCH", "/v1/users/me/settings", { body })).data;
      announce("Settings saved");
      toast("Settings saved");
      close(true);
    } catch (err) {
      error.hidden = false;
      error.textContent = err.param ? `${err.param}: ${err.message}` : err.message;
    }
  });
  return h("div", { class: "stack" }, themeSection(), form);
}

function accountPanel(app, close) {
  const me = app.me;
  const rows = [h("p", {}, `Signed in as ${me.role === "guest" ? "a guest" : me.email || me.display_name || "an API key user"} (${me.role}).`)];
  if (me.role === "guest") {
    const email = h("input", { type: "email", autocomplete: "email", required: true });
    const password = h("input", { type: "password", autocomplete: "new-password", minlength: 8, required: true });
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h("form", { class: "stack", "aria-label": "Create an account" },
      h("p", { class: "muted small" }, "Create an account to keep your chats: everything you have now stays."),
      labelled("Email", email), labelled("Password (8 characters or more)", password), error,
      h("button", { type: "submit", class: "button primary" }, "Create account"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await upgradeGuest(email.value, password.value);
        await app.refreshMe();
        announce("Account created");
        toast("Your account is ready. Your chats are kept.");
        close();
      } catch (err) {
        error.hidden = false;
        error.textContent = err.message;
      }
    });
    rows.push(form);
  }
  rows.push(h("button", { type: "button", class: "button small", onclick: async () => {
    await api("POST", "/llm/auth/logout").catch(() => {});
    await signOut();
  } }, "Sign out everywhere"));
  return h("fieldset", {}, h("legend", {}, "Account"), rows);
}

export async function showSettings(app, { tab = "general", memoryId = null } = {}) {
  try {
    app.settings = (await api("GET", "/v1/users/me/settings")).data; // never a stale copy
  } catch (error) {
    toast(`Settings could not be loaded: ${error.message}`, "error");
    return undefined;
  }
  return modal("Settings", (close) => {
    const sections = tabs([
      { id: "general", label: "General", build: () => generalPanel(app, close) },
      { id: "memory", label: "Memory", build: () => memoryPanel(app, { memoryId }) },
      { id: "tools", label: "Tools", build: () => toolsPanel(app) },
      { id: "account", label: "Account", build: () => accountPanel(app, close) },
    ], "Settings sections");
    sections.select(tab);
    return h("div", { class: "dialog-body" }, sections.element);
  }, { className: "settings-dialog" });
}
