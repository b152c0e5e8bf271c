// Entry point: sign-in or the app shell (sidebar + chat or admin), routed by the URL hash:
//   #/            a new chat          #/c/<conversation id>   a conversation
//   #/admin/<tab> the admin pages (admins only)

import { ApiError, api, currentSession, onSignOut, signOut } from "./api.js";
import { confirmAction, h, replaceChildren, toast } from "./dom.js";
import { showSignIn } from "./signin.js";
import { Sidebar } from "./sidebar.js";
import { ChatView } from "./chat.js";
import { applyTheme, openSettings } from "./settings.js";
import { PendingApprovals } from "./approvals.js";

const root = document.getElementById("app");

/** What every view shares: the user, the model catalog, the user's settings. */
export const app = {
  me: null,
  catalog: [],
  settings: null,
  sidebar: null,
  approvals: null,
  chat: null,
  admin: null,
  navigate(path, { replace = false } = {}) {
    const hash = `#${path}`;
    if (location.hash === hash) return route();
    if (replace) {
      history.replaceState(null, "", hash);
      return route();
    }
    location.hash = hash;
    return undefined;
  },
  async refreshMe() {
    this.me = (await api("GET", "/llm/auth/me")).data;
    renderAccount();
  },
  async loadCatalog() {
    try {
      this.catalog = (await api("GET", "/v1/models/catalogs")).data;
    } catch (error) {
      this.catalog = [];
      toast(`Models could not be loaded: ${error.message}`, "error");
    }
  },
  chatModels() {
    return this.catalog.filter((m) => !m.capabilities.includes("embeddings"));
  },
  defaultModel() {
    const usable = this.chatModels().filter((m) => m.available && m.enabled);
    const preferred = this.settings?.advanced_settings?.default_model;
    if (preferred && usable.some((m) => m.id === preferred)) return preferred;
    return usable[0]?.id ?? null;
  },
  async signOut() {
    if (this.me?.role === "guest" && !(await confirmAction(
      "You are a guest: after signing out you cannot come back to these chats. Create an account in Settings to keep them.",
      "Sign out"))) return;
    await signOut();
  },
};

let accountSlot = null;
let mainSlot = null;

function renderAccount() {
  if (!accountSlot || !app.me) return;
  const me = app.me;
  const name = me.role === "guest" ? "Guest" : me.display_name || me.email || "API key user";
  replaceChildren(accountSlot,
    h("span", { class: "account-name", title: me.email || me.id }, name),
    h("span", { class: `role-badge role-${me.role}` }, me.role));
  document.body.classList.toggle("is-admin", me.role === "admin");
}

function shell() {
  accountSlot = h("div", { class: "account" });
  mainSlot = h("main", { id: "main", class: "main", tabindex: "-1" });
  app.sidebar = new Sidebar(app);
  app.approvals = new PendingApprovals({ onDecided: () => app.chat?.reload().catch(fail) });
  const adminLink = h("a", { class: "button small admin-only", href: "#/admin" }, "Admin");
  const footer = h("div", { class: "sidebar-footer" },
    accountSlot,
    h("div", { class: "sidebar-footer-actions" },
      h("button", { type: "button", class: "button small", onclick: () => openSettings(app) }, "Settings"),
      adminLink,
      h("button", { type: "button", class: "button small", onclick: () => app.signOut() }, "Sign out")));
  const sidebar = h("nav", { id: "sidebar", class: "sidebar", "aria-label": "Conversations" },
    app.sidebar.element, footer);
  const scrim = h("div", { class: "scrim", onclick: () => document.body.classList.remove("sidebar-open") });
  const skip = h("a", { class: "skip-link", href: "#main", onclick: (event) => {
    event.preventDefault();
    document.querySelector('[aria-label="Message"]')?.focus() ?? mainSlot.focus();
  } }, "Skip to the message box");
  replaceChildren(root, skip, h("div", { class: "layout" }, sidebar, scrim, mainSlot));
  root.removeAttribute("aria-busy");
  renderAccount();
}

async function route() {
  document.body.classList.remove("sidebar-open");
  const path = location.hash.replace(/^#/, "") || "/";
  const [, section, id] = path.split("/");
  if (section === "admin") {
    if (app.me?.role !== "admin") return app.navigate("/", { replace: true });
    app.chat?.detach();
    const { AdminView } = await import("./admin/admin.js");
    app.admin ??= new AdminView(app);
    replaceChildren(mainSlot, app.admin.element);
    app.sidebar.select(null);
    return app.admin.show(id || "tools");
  }
  app.chat ??= new ChatView(app);
  if (!mainSlot.contains(app.chat.element)) replaceChildren(mainSlot, app.chat.element);
  app.sidebar.select(section === "c" ? id : null);
  return section === "c" && id ? app.chat.open(id) : app.chat.openNew();
}

async function start() {
  try {
    await app.refreshMe();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // onSignOut shows sign-in
    throw error;
  }
  const [settings] = await Promise.all([
    api("GET", "/v1/users/me/settings").then((body) => body.data).catch(() => null),
    app.loadCatalog(),
  ]);
  app.settings = settings;
  applyTheme(settings?.preferences?.theme);
  shell();
  await Promise.all([app.sidebar.load(), route()]);
  markReady();
  app.approvals.refresh();
}

/** The app can be used: tests and the README's timing read this mark. */
function markReady() {
  if (document.documentElement.dataset.ready) return;
  document.documentElement.dataset.ready = "true";
  performance.mark("parlay-ready");
}

function signInScreen(reason) {
  app.me = null;
  app.chat = null;
  app.approvals = null;
  app.admin = null;
  document.body.classList.remove("is-admin");
  const notice = reason === "expired" ? "Your session ended. Please sign in again." : "";
  showSignIn(root, () => start().catch(fail), notice);
  markReady();
}

function fail(error) {
  console.warn(error);
  toast(error.message || "Something went wrong", "error");
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.body.classList.contains("sidebar-open") && !document.querySelector("dialog[open]")) {
    document.body.classList.remove("sidebar-open");
    document.querySelector(".menu-button")?.focus();
  }
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") app.approvals?.refresh(); // decided elsewhere?
});
window.addEventListener("hashchange", () => {
  if (app.me) route().catch(fail);
});
onSignOut((reason) => signInScreen(reason));

if (currentSession()) start().catch(fail);
else signInScreen();
