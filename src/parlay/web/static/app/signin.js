// The sign-in screen: continue as a guest, sign in, create an account, or use an API key.

import { register, signIn, signInAsGuest, signInWithKey } from "./api.js";
import { h, replaceChildren } from "./dom.js";

function field(label, attrs) {
  const id = `f-${attrs.name}-${Math.random().toString(36).slice(2, 7)}`;
  return h("div", { class: "field" }, h("label", { for: id }, label), h("input", { id, ...attrs }));
}

function errorLine() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

function showError(line, error) {
  line.hidden = false;
  line.textContent = error.message || String(error);
}

function busyForm(form, work) {
  return async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      await work(new FormData(form));
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  };
}

/** Render the sign-in screen into `root`; calls `onSignedIn()` once a session exists. */
export function showSignIn(root, onSignedIn, notice = "") {
  const guestError = errorLine();
  const guestButton = h("button", { type: "button", class: "button primary wide", onclick: async () => {
    guestButton.disabled = true;
    try {
      await signInAsGuest();
      onSignedIn();
    } catch (error) {
      showError(guestError, error);
      guestButton.disabled = false;
    }
  } }, "Continue as guest");

  const loginError = errorLine();
  const loginForm = h("form", { class: "stack", "aria-label": "Sign in" },
    field("Email", { name: "email", type: "email", autocomplete: "username", required: true }),
    field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }),
    loginError,
    h("button", { type: "submit", class: "button primary" }, "Sign in"));
  loginForm.addEventListener("submit", busyForm(loginForm, async (data) => {
    try {
      await signIn(data.get("email"), data.get("password"));
      onSignedIn();
    } catch (error) {
      showError(loginError, error);
    }
  }));

  const registerError = errorLine();
  const registerForm = h("form", { class: "stack", "aria-label": "Create account" },
    field("Name (optional)", { name: "display_name", type: "text", autocomplete: "name", maxlength: 200 }),
    field("Email", { name: "email", type: "email", autocomplete: "email", required: true }),
    field("Password (8 characters or more)", { name: "password", type: "password", autocomplete: "new-password", minlength: 8, required: true }),
    registerError,
    h("button", { type: "submit", class: "button primary" }, "Create account"));
  registerForm.addEventListener("submit", busyForm(registerForm, async (data) => {
    try {
      await register(data.get("email"), data.get("password"), data.get("display_name"));
      onSignedIn();
    } catch (error) {
      showError(registerError, error);
    }
  }));

  const keyError = errorLine();
  const keyForm = h("form", { class: "stack", "aria-label": "Use an API key" },
    field("API key", { name: "key", type: "password", autocomplete: "off", required: true, pattern: "sk_.+", placeholder: "sk_…" }),
    keyError,
    h("button", { type: "submit", class: "button" }, "Use this key"));
  keyForm.addEventListener("submit", busyForm(keyForm, async (data) => {
    try {
      await signInWithKey(data.get("key").trim());
      onSignedIn();
    } catch (error) {
      showError(keyError, error);
    }
  }));

  const panel = h("main", { class: "signin" },
    h("div", { class: "signin-card" },
      h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), h("h1", {}, "Parlay")),
      h("p", { class: "muted" }, "Chat with the models this server offers."),
      notice ? h("p", { class: "notice", role: "status" }, notice) : null,
      guestButton,
      guestError,
      h("p", { class: "muted small" }, "A guest can create an account later and keep every chat."),
      h("details", { class: "signin-section", open: true }, h("summary", {}, "Sign in with email"), loginForm),
      h("details", { class: "signin-section" }, h("summary", {}, "Create an account"), registerForm),
      h("details", { class: "signin-section" }, h("summary", {}, "Use an API key"), keyForm)));
  replaceChildren(root, panel);
  root.removeAttribute("aria-busy");
  guestButton.focus();
}
