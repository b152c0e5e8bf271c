// One conversation: header (title, model picker, Share), the messages, the message box.
// Replies stream token by token, sent or answered again (Regenerate, Retry, Continue, an
// edit resent): see replystream.js; edit and delete use the items API.

import { ApiError, api } from "./api.js";
import { announce, confirmAction, h, icon, replaceChildren, toast } from "./dom.js";
import { renderItems } from "./messages.js";
import { streamReply } from "./replystream.js";
import { openSettings } from "./settings.js";
import { openShareDialog } from "./share.js";

const ITEMS_LIMIT = 1000;
const TITLE_LENGTH = 60;

function titleFrom(text) {
  const line = text.trim().split("\n")[0].trim();
  return line.length > TITLE_LENGTH ? `${line.slice(0, TITLE_LENGTH - 1)}…` : line || "New chat";
}

export class ChatView {
  constructor(app) {
    this.app = app;
    this.conversation = null;
    this.items = [];
    this.versionShown = new Map();
    this.elementCache = new Map();
    this.streaming = null;
    this.model = null;
    this.failure = null; // the last send's error, shown under a user message left unanswered
    this.loadToken = 0;
    this.build();
  }

  build() {
    this.title = h("h1", { class: "chat-title" }, "New chat");
    this.modelSelect = h("select", { class: "model-select", "aria-label": "Model", onchange: () => this.chooseModel(this.modelSelect.value) });
    this.shareButton = h("button", { type: "button", class: "button small", disabled: true, onclick: () => this.conversation && openShareDialog(this.conversation) }, "Share");
    const menuButton = h("button", { type: "button", class: "icon-button menu-button", "aria-label": "Show chats", title: "Chats", onclick: () => {
      document.body.classList.add("sidebar-open");
      document.querySelector("#sidebar .search")?.focus();
    } }, icon("menu"));
    this.list = h("div", { class: "messages", "aria-label": "Messages" });
    this.emptyState = h("div", { class: "empty-state" }, h("h2", {}, "How can I help?"), h("p", { class: "muted" }, "Pick a model above and write a message. Enter sends, Shift+Enter starts a new line."));
    this.scroller = h("div", { class: "scroller" }, this.emptyState, this.list);
    this.input = h("textarea", { class: "message-input", rows: "1", "aria-label": "Message", placeholder: "Message Parlay", maxlength: 200000 });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    this.sendButton = h("button", { type: "submit", class: "button primary send-button" }, "Send");
    this.stopButton = h("button", { type: "button", class: "button danger stop-button", hidden: true, onclick: () => this.stop() }, "Stop");
    const form = h("form", { class: "composer", "aria-label": "Write a message" }, this.input, this.sendButton, this.stopButton);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.element = h("section", { class: "chat" },
      h("header", { class: "chat-header" }, menuButton, this.title, this.app.approvals?.button, this.modelSelect, this.shareButton),
      this.scroller,
      h("div", { class: "composer-wrap" }, form, h("p", { class: "composer-hint muted small" }, "Replies can be wrong. Check what matters.")));
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
  }

  detach() {
    this.stop();
  }

  // -- model picker ---------------------------------------------------------------------------

  renderModels() {
    const models = this.app.chatModels();
    const chosen = this.model;
    const options = models.map((m) => {
      const usable = m.available && m.enabled;
      const label = usable ? m.name || m.id : `${m.name || m.id} (${m.enabled ? "unavailable" : "disabled"})`;
      return h("option", { value: m.id, disabled: !usable, selected: m.id === chosen }, label);
    });
    if (chosen && !models.some((m) => m.id === chosen)) {
      options.unshift(h("option", { value: chosen, disabled: true, selected: true }, `${chosen} (not offered)`));
    }
    if (!options.length) options.push(h("option", { value: "", disabled: true, selected: true }, "No models"));
    replaceChildren(this.modelSelect, options);
  }

  async chooseModel(id) {
    this.model = id;
    if (!this.conversation) return;
    try {
      this.conversation = (await api("PATCH", `/v1/conversations/${this.conversation.id}`, { body: { model: id } })).data;
    } catch (error) {
      toast(`The model could not be changed: ${error.message}`, "error");
    }
  }

  // -- opening --------------------------------------------------------------------------------

  openNew() {
    this.stop();
    this.loadToken += 1;
    this.conversation = null;
    this.items = [];
    this.failure = null;
    this.truncated = false;
    this.elementCache.clear();
    this.versionShown.clear();
    this.model = this.app.defaultModel();
    this.title.textContent = "New chat";
    this.shareButton.disabled = true;
    this.renderModels();
    this.render();
    this.input.focus();
  }

  async open(id) {
    if (this.conversation?.id === id && this.streaming) return;
    this.stop();
    const token = ++this.loadToken;
    if (this.conversation?.id !== id) {
      this.elementCache.clear();
      this.versionShown.clear();
      this.failure = null;
    }
    try {
      const conversation = (await api("GET", `/v1/conversations/${id}?items_limit=${ITEMS_LIMIT}`)).data;
      if (token !== this.loadToken) return;
      this.show(conversation);
      this.scrollToEnd(true);
      this.input.focus();
    } catch (error) {
      if (token !== this.loadToken) return;
      if (error.status === 404) {
        toast("That chat does not exist (any more).", "error");
        this.app.navigate("/", { replace: true });
      } else {
        toast(`The chat could not be loaded: ${error.message}`, "error");
      }
    }
  }

  show(conversation) {
    const { items, has_more_items: truncated, ...rest } = conversation;
    this.truncated = truncated;
    this.conversation = rest;
    this.items = items;
    this.model = rest.model || this.model || this.app.defaultModel();
    this.title.textContent = rest.title || "Untitled chat";
    document.title = `${rest.title || "Chat"} · Parlay`;
    this.shareButton.disabled = false;
    this.renderModels();
    this.render();
  }

  async reload() {
    if (!this.conversation) return;
    const conversation = (await api("GET", `/v1/conversations/${this.conversation.id}?items_limit=${ITEMS_LIMIT}`)).data;
    this.show(conversation);
    this.app.sidebar.touch(this.conversation);
  }

  titleChanged(conversation) {
    if (this.conversation?.id !== conversation.id) return;
    this.conversation = { ...this.conversation, ...conversation };
    this.title.textContent = conversation.title || "Untitled chat";
  }

  // -- rendering ------------------------------------------------------------------------------

  /** Reuse an item's element while nothing it shows changed (keeps highlighting, focus,
   * and what the user expanded). */
  cached(item, build) {
    const key = [item.id, item.version, item.updated_at, item.status, this.versionShown.get(item.id) ?? "", item.content.length].join("|");
    return this.cachedKey(item.id, key, build);
  }

  cachedKey(id, key, build) {
    const hit = this.elementCache.get(id);
    if (hit?.key === key) return hit.element;
    const element = build();
    this.elementCache.set(id, { key, element });
    return element;
  }

  openMemory(id) {
    return openSettings(this.app, { tab: "memory", memoryId: id });
  }

  approvalDecided() {
    this.app.approvals?.refresh();
  }

  versionIndex(id) {
    return this.versionShown.get(id);
  }

  render() {
    const elements = renderItems(this.items, this);
    const last = this.items[this.items.length - 1];
    if (!this.streaming && last?.role === "user" && last.type === "message") {
      elements.push(this.unansweredNotice(last));
    }
    if (this.truncated) elements.unshift(h("p", { class: "muted small" }, `Only the latest ${ITEMS_LIMIT} messages are shown.`));
    replaceChildren(this.list, elements);
    if (this.streaming) this.placeStreaming(this.streaming);
    this.emptyState.hidden = this.items.length > 0 || Boolean(this.streaming);
  }

  /** A streaming reply takes the place of the reply it answers again, else goes last (after
   * the message being sent). */
  placeStreaming(stream) {
    const old = stream.replaces && this.itemElement(stream.replaces);
    if (old) old.replaceWith(stream.element);
    else this.list.append(...[stream.pendingUser, stream.element].filter(Boolean));
  }

  unansweredNotice(item) {
    const reason = this.failure?.itemId === item.id || this.failure?.itemId === undefined ? this.failure?.message : null;
    return h("div", { class: "message-status status-failed unanswered", role: "note" },
      h("span", {}, reason ? `No reply: ${reason}` : "This message has no reply."),
      h("button", { type: "button", class: "button small", onclick: () => this.regenerate(item) }, "Retry"));
  }

  nearEnd() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  scrollToEnd(force = false) {
    if (force || this.nearEnd()) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  // -- sending and streaming ------------------------------------------------------------------

  setBusy(busy) {
    this.sendButton.hidden = busy;
    this.stopButton.hidden = !busy;
    if (!busy && document.activeElement === document.body) this.input.focus();
  }

  async submit() {
    const text = this.input.value;
    if (!text.trim() || this.streaming) return;
    if (!this.model) {
      toast("No model is available to answer. Ask an admin to add a provider.", "error");
      return;
    }
    this.input.value = "";
    this.autosize();
    try {
      await this.send(text);
    } catch (error) {
      toast(error.message, "error");
    }
  }

  async ensureConversation(text) {
    if (this.conversation) return;
    const conversation = (await api("POST", "/v1/conversations", { body: { title: titleFrom(text), model: this.model } })).data;
    this.conversation = conversation;
    this.loadToken += 1;
    history.replaceState(null, "", `#/c/${conversation.id}`);
    this.title.textContent = conversation.title;
    this.shareButton.disabled = false;
    this.app.sidebar.touch(conversation);
    this.app.sidebar.select(conversation.id);
  }

  async send(text) {
    await this.ensureConversation(text);
    await streamReply(this, {
      path: "/items", userText: text, onRefused: (error) => this.refused(error, text),
      body: { role: "user", content: text, model: this.model },
    });
  }

  /** The send failed before a reply stream opened. A 5xx kept the message (it is shown
   * unanswered, with the reason and Retry); anything else stored nothing: say why and give
   * the text back. */
  refused(error, text) {
    if (error instanceof ApiError && error.status >= 500) {
      this.failure = { message: error.message };
      return;
    }
    toast(error.message, "error");
    if (!this.input.value) {
      this.input.value = text;
      this.autosize();
    }
  }

  stop() {
    this.streaming?.controller.abort();
  }

  // -- actions on items -----------------------------------------------------------------------

  itemElement(id) {
    return this.list.querySelector(`[data-id="${CSS.escape(id)}"]`);
  }

  /** Answer again (Regenerate, Retry, Continue): an assistant reply, or the reply to a user
   * message (made if there is none), streamed in the old reply's place. */
  async regenerate(item) {
    if (this.streaming) return;
    const index = this.items.findIndex((i) => i.id === item.id);
    const next = index >= 0 ? this.items[index + 1] : undefined;
    const reply = item.role === "assistant" ? item : next?.role === "assistant" && next.type === "message" ? next : null;
    if (reply) this.versionShown.delete(reply.id);
    announce("Regenerating the reply");
    await streamReply(this, {
      path: `/items/${item.id}/regenerate`, body: { model: this.model }, replaces: reply?.id,
      onRefused: (error) => {
        if (error instanceof ApiError && error.status >= 500) this.failure = { itemId: item.id, message: error.message };
        toast(error.message, "error");
      },
    });
  }

  showVersion(item, index) {
    this.versionShown.set(item.id, index);
    this.render();
    this.itemElement(item.id)?.querySelector(".versions button:not(:disabled)")?.focus();
  }

  async copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    } catch {
      toast("Copying is not allowed here", "error");
    }
  }

  edit(item) {
    const element = this.itemElement(item.id);
    if (!element) return;
    const editor = h("textarea", { class: "edit-input", "aria-label": "Edit message", rows: "3", value: item.content });
    const cancel = () => {
      this.elementCache.delete(item.id);
      this.render();
    };
    const save = async () => {
      const content = editor.value;
      if (!content.trim() || this.streaming) return;
      let edited;
      try {
        edited = (await api("PATCH", `/v1/conversations/${this.conversation.id}/items/${item.id}`, { body: { content } })).data;
      } catch (error) {
        toast(error.message, "error");
        await this.reload().catch((failure) => toast(failure.message, "error"));
        return;
      }
      this.items = this.items.map((i) => (i.id === edited.id ? edited : i));
      await this.regenerate(edited);
    };
    editor.addEventListener("keydown", (event) => {
      if (event.key === "Escape") cancel();
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        save();
      }
    });
    const form = h("div", { class: "edit-form" }, editor,
      h("div", { class: "edit-actions" },
        h("button", { type: "button", class: "button small", onclick: cancel }, "Cancel"),
        h("button", { type: "button", class: "button small primary", onclick: save }, "Save and resend")));
    element.querySelector(".message-body").replaceWith(form);
    element.querySelector(".message-actions").hidden = true;
    editor.focus();
  }

  async deleteItem(item) {
    if (!(await confirmAction("Delete this message? Its versions go too.", "Delete"))) return;
    try {
      await api("DELETE", `/v1/conversations/${this.conversation.id}/items/${item.id}`);
      announce("Message deleted");
    } catch (error) {
      if (error.status !== 404) toast(error.message, "error");
    }
    await this.reload().catch((error) => toast(error.message, "error"));
  }
}
