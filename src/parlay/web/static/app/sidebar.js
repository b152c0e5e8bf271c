// The conversation list: newest first, search by title, rename, delete, bulk select + delete.

import { api } from "./api.js";
import { announce, confirmAction, debounce, h, icon, replaceChildren, toast } from "./dom.js";

const PAGE = 50;

export class Sidebar {
  constructor(app) {
    this.app = app;
    this.conversations = [];
    this.hasMore = false;
    this.query = "";
    this.activeId = null;
    this.selecting = false;
    this.selected = new Set();
    this.list = h("ul", { class: "conversation-list", "aria-label": "Chats" });
    this.moreButton = h("button", { type: "button", class: "button small subtle", hidden: true, onclick: () => this.load({ more: true }) }, "Show more");
    this.search = h("input", { type: "search", class: "search", placeholder: "Search chats", "aria-label": "Search chats", oninput: debounce(() => this.setQuery(this.search.value), 200) });
    this.bulkBar = this.buildBulkBar();
    this.empty = h("p", { class: "muted small empty-list", hidden: true });
    this.element = h("div", { class: "sidebar-body" },
      h("div", { class: "sidebar-top" },
        h("button", { type: "button", class: "button primary wide", onclick: () => this.app.navigate("/") }, "New chat"),
        h("button", { type: "button", class: "icon-button close-sidebar", "aria-label": "Close the chat list", title: "Close", onclick: () => document.body.classList.remove("sidebar-open") }, icon("close"))),
      this.search,
      this.bulkBar,
      this.list,
      this.empty,
      this.moreButton);
  }

  buildBulkBar() {
    this.selectToggle = h("button", { type: "button", class: "button small subtle", "aria-pressed": "false", onclick: () => this.setSelecting(!this.selecting) }, "Select");
    this.deleteSelected = h("button", { type: "button", class: "button small danger", hidden: true, disabled: true, onclick: () => this.bulkDelete() }, "Delete selected");
    return h("div", { class: "bulk-bar" }, this.selectToggle, this.deleteSelected);
  }

  setSelecting(on) {
    this.selecting = on;
    this.selected.clear();
    this.selectToggle.textContent = on ? "Cancel" : "Select";
    this.selectToggle.setAttribute("aria-pressed", String(on));
    this.deleteSelected.hidden = !on;
    this.render();
  }

  setQuery(text) {
    this.query = text.trim();
    this.load();
  }

  async load({ more = false } = {}) {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(more ? this.conversations.length : 0) });
    if (this.query) params.set("q", this.query);
    try {
      const page = await api("GET", `/v1/conversations?${params}`);
      this.conversations = more ? [...this.conversations, ...page.data] : page.data;
      this.hasMore = page.has_more;
    } catch (error) {
      toast(`Chats could not be loaded: ${error.message}`, "error");
    }
    this.render();
  }

  select(id) {
    this.activeId = id;
    for (const link of this.list.querySelectorAll(".conversation-link")) {
      if (link.dataset.id === id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  /** A conversation changed (new message, rename): move it to the top without a reload. */
  touch(conversation) {
    this.conversations = [conversation, ...this.conversations.filter((c) => c.id !== conversation.id)];
    this.render();
  }

  render() {
    replaceChildren(this.list, this.conversations.map((c) => this.row(c)));
    this.moreButton.hidden = !this.hasMore;
    this.empty.hidden = this.conversations.length > 0;
    this.empty.textContent = this.query ? `No chat title contains “${this.query}”.` : "No chats yet.";
    this.updateBulk();
  }

  row(conversation) {
    const title = conversation.title || "Untitled chat";
    const link = h("a", { class: "conversation-link", href: `#/c/${conversation.id}`, dataset: { id: conversation.id }, "aria-current": conversation.id === this.activeId ? "page" : null, title }, title);
    const item = h("li", { class: "conversation", dataset: { id: conversation.id } });
    if (this.selecting) {
      item.append(h("input", { type: "checkbox", class: "select-box", "aria-label": `Select ${title}`, checked: this.selected.has(conversation.id), onchange: (event) => {
        if (event.target.checked) this.selected.add(conversation.id);
        else this.selected.delete(conversation.id);
        this.updateBulk();
      } }));
    }
    item.append(link,
      h("span", { class: "row-actions" },
        h("button", { type: "button", class: "icon-button", "aria-label": `Rename ${title}`, title: "Rename", onclick: () => this.rename(item, conversation) }, icon("edit")),
        h("button", { type: "button", class: "icon-button", "aria-label": `Delete ${title}`, title: "Delete", onclick: () => this.remove(conversation) }, icon("trash"))));
    return item;
  }

  updateBulk() {
    const count = this.selected.size;
    this.deleteSelected.disabled = count === 0;
    this.deleteSelected.textContent = count ? `Delete selected (${count})` : "Delete selected";
  }

  rename(item, conversation) {
    const input = h("input", { type: "text", class: "rename-input", value: conversation.title || "", maxlength: 500, "aria-label": "New title" });
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      if (save && title && title !== conversation.title) {
        try {
          const updated = (await api("PATCH", `/v1/conversations/${conversation.id}`, { body: { title } })).data;
          Object.assign(conversation, updated);
          this.app.chat?.titleChanged(updated);
          announce("Chat renamed");
        } catch (error) {
          toast(`Rename failed: ${error.message}`, "error");
        }
      }
      this.render();
      this.list.querySelector(`.conversation[data-id="${conversation.id}"] .conversation-link`)?.focus();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      if (event.key === "Escape") {
        event.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
    item.querySelector(".conversation-link").replaceWith(input);
    input.focus();
    input.select();
  }

  async remove(conversation) {
    if (!(await confirmAction(`Delete “${conversation.title || "Untitled chat"}” and all its messages?`))) return;
    try {
      await api("DELETE", `/v1/conversations/${conversation.id}`);
    } catch (error) {
      if (error.status !== 404) return toast(`Delete failed: ${error.message}`, "error");
    }
    this.forget([conversation.id]);
    announce("Chat deleted");
  }

  async bulkDelete() {
    const ids = [...this.selected];
    if (!ids.length || !(await confirmAction(`Delete ${ids.length} chat${ids.length > 1 ? "s" : ""} and all their messages?`))) return;
    try {
      const result = await api("POST", "/v1/conversations/bulk-delete", { body: { conversation_ids: ids } });
      announce(`${result.data.deleted_count} chats deleted`);
    } catch (error) {
      return toast(`Delete failed: ${error.message}`, "error");
    }
    this.setSelecting(false);
    this.forget(ids);
  }

  forget(ids) {
    this.conversations = this.conversations.filter((c) => !ids.includes(c.id));
    this.render();
    if (ids.includes(this.activeId)) this.app.navigate("/");
  }
}
