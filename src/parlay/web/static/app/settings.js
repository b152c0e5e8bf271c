// The settings dialog: appearance, profile (shapes every reply), memory and tool switches,
// default model, and the account (a guest upgrades here and keeps every chat).

import { api, signOut, upgradeGuest } from "./api.js";
import { announce, h, modal, toast } from "./dom.js";

const THEME_KEY = "parlay.theme";
const STYLES = ["Concise", "Friendly", "Professional", "Candid", "Quirky", "Efficient", "Nerdy", "Cynical"];

/** "light" | "dark" | "system"; anything else (no stored preference) keeps the current one. */
export function applyTheme(theme) {
  if (theme === "light" || theme === "dark") {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
  } else if (theme === "system") {
    delete document.documentElement.dataset.theme;
    localStorage.removeItem(THEME_KEY);
  }
}

let counter = 0;
function labelled(label, control, hint) {
  control.id ||= `set-${(counter += 1)}`;
  const isCheck = control.type === "checkbox";
  const labelEl = h("label", { for: control.id }, label);
  return h("div", { class: isCheck ? "check" : "field" },
    isCheck ? [control, labelEl] : [labelEl, control],
    hint ? h("p", { class: "muted small hint" }, hint) : null);
}

function textInput(value, maxlength, multiline = false) {
  return multiline
    ? h("textarea", { rows: "3", maxlength, value: value ?? "" })
    : h("input", { type: "text", maxlength, value: value ?? "" });
}

const textOrNull = (control) => (control.value.trim() ? control.value.trim() : null);

function themeSection() {
  const current = document.documentElement.dataset.theme || "system";
  const select = h("select", { onchange: () => {
    applyTheme(select.value);
    api("PATCH", "/v1/users/me/settings/preferences", { body: { theme: select.value === "system" ? null : select.value } }).catch(() => {});
  } }, [["system", "Follow the system"], ["light", "Light"], ["dark", "Dark"]].map(([value, label]) => h("option", { value, selected: value === current }, label)));
  return h("fieldset", {}, h("legend", {}, "Appearance"), labelled("Theme", select));
}

function accountSection(app, close) {
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

export function openSettings(app) {
  return modal("Settings", (close) => {
    const s = app.settings || { profile_settings: {}, memory_config: {}, advanced_settings: {} };
    const p = s.profile_settings;
    const style = h("select", {}, STYLES.map((name) => h("option", { value: name, selected: name === (p.base_style || "Friendly") }, name)));
    const nick = textInput(p.nick_name, 100);
    const occupation = textInput(p.occupation, 200);
    const about = textInput(p.more_about_you, 2000, true);
    const instructions = textInput(p.custom_instructions, 4000, true);
    const m = s.memory_config;
    const memoryOn = h("input", { type: "checkbox", checked: Boolean(m.enabled) });
    const similarity = h("input", { type: "number", min: "0", max: "1", step: "0.05", value: String(m.min_similarity ?? 0.75) });
    const maxItems = h("input", { type: "number", min: "1", max: "50", step: "1", value: String(m.max_items ?? 5) });
    const a = s.advanced_settings;
    const webSearch = h("input", { type: "checkbox", checked: Boolean(a.web_search_enabled) });
    const codeRun = h("input", { type: "checkbox", checked: Boolean(a.code_execution_enabled) });
    const defaultModel = h("select", {},
      h("option", { value: "" }, "Server default"),
      app.chatModels().map((model) => h("option", { value: model.id, selected: model.id === a.default_model, disabled: !(model.available && model.enabled) }, model.name || model.id)));
    const error = h("p", { class: "form-error", role: "alert", hidden: true });

    const form = h("form", { class: "stack settings-form", "aria-label": "Your settings" },
      h("fieldset", {}, h("legend", {}, "Profile"),
        h("p", { class: "muted small" }, "Shapes every reply once you change it."),
        labelled("Reply style", style), labelled("What should replies call you?", nick),
        labelled("Occupation", occupation), labelled("More about you", about),
        labelled("Custom instructions", instructions)),
      h("fieldset", {}, h("legend", {}, "Memory"),
        labelled("Remember facts about me across chats", memoryOn),
        labelled("Minimum similarity to recall (0 to 1)", similarity),
        labelled("At most this many memories per reply", maxItems)),
      h("fieldset", {}, h("legend", {}, "Tools and model"),
        labelled("Allow web search and page reading", webSearch, "Only when an admin has enabled these tools too."),
        labelled("Allow running code", codeRun),
        labelled("Default model for new chats", defaultModel)),
      error,
      h("div", { class: "dialog-actions" }, h("button", { type: "submit", class: "button primary" }, "Save settings")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {
        profile_settings: { base_style: style.value, nick_name: textOrNull(nick), occupation: textOrNull(occupation), more_about_you: textOrNull(about), custom_instructions: textOrNull(instructions) },
        memory_config: { enabled: memoryOn.checked, min_similarity: Number(similarity.value), max_items: Number(maxItems.value) },
        advanced_settings: { web_search_enabled: webSearch.checked, code_execution_enabled: codeRun.checked, default_model: defaultModel.value || null },
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
    return h("div", { class: "dialog-body" }, themeSection(), form, accountSection(app, close));
  }, { className: "settings-dialog" });
}
