// Settings > Memory: whether replies recall what Parlay remembers about the user (and how
// close a memory must be to the message, how many at most, whether facts are learned from
// messages), and the memories themselves: add, edit, delete, forget all.

import { api } from "../api.js";
import { announce, confirmAction, formatTime, h, replaceChildren, toast } from "../dom.js";
import { forgetReadMemory } from "../remembered.js";
import { labelled, nextId } from "./fields.js";

const PAGE = 100;
const MAX_TEXT = 2000;
const short = (text, n = 40) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function configForm(app) {
  const m = app.settings.memory_config;
  const enabled = h("input", { type: "checkbox", checked: Boolean(m.enabled) });
  const autoExtract = h("input", { type: "checkbox", checked: Boolean(m.auto_extract) });
  const similarity = h("input", { type: "number", min: "0", max: "1", step: "0.05", required: true, value: String(m.min_similarity) });
  const maxItems = h("input", { type: "number", min: "1", max: "50", step: "1", required: true, value: String(m.max_items) });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "stack", "aria-label": "Memory settings" },
    h("fieldset", {}, h("legend", {}, "Recall"),
      labelled("Remember facts about me across chats", enabled, "Before a reply, the memories closest to your message are given to the model."),
      labelled("Learn facts from my messages", autoExtract, "After a reply, the model proposes lasting facts from your message; repeats are skipped. Only while memory is on."),
      labelled("Minimum similarity to recall (0 to 1)", similarity, "Lower recalls more, less related memories."),
      labelled("At most this many memories per reply", maxItems)),
    error,
    h("div", { class: "dialog-actions" }, h("button", { type: "submit", class: "button primary" }, "Save memory settings")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const body = { memory_config: { enabled: enabled.checked, auto_extract: autoExtract.checked, min_similarity: Number(similarity.value), max_items: Number(maxItems.value) } };
    try {
      app.settings = (await api("PATCH", "/v1/users/me/settings", { body })).data;
      announce("Memory settings saved");
      toast("Memory settings saved");
    } catch (err) {
      error.hidden = false;
      error.textContent = err.param ? `${err.param}: ${err.message}` : err.message;
    }
  });
  return form;
}

class MemoryList {
  constructor(focusId) {
    this.focusId = focusId;
    this.total = 0;
    this.count = h("span", {});
    const headingId = nextId("memories");
    this.list = h("ul", { class: "memory-list", "aria-labelledby": headingId });
    this.empty = h("p", { class: "muted small", hidden: true }, "Nothing remembered yet.");
    this.notice = h("p", { class: "notice small", role: "status", hidden: true });
    this.more = h("button", { type: "button", class: "button small subtle", hidden: true, onclick: () => this.load(true) }, "Show more");
    this.forgetAll = h("button", { type: "button", class: "button small danger", hidden: true, onclick: () => this.clear() }, "Forget all memories");
    this.element = h("section", { class: "stack memory-section", "aria-labelledby": headingId },
      h("h3", { id: headingId }, "Your memories ", this.count),
      this.addForm(), this.notice, this.list, this.empty,
      h("div", { class: "memory-footer" }, this.more, this.forgetAll));
    this.load().then(() => this.reveal());
  }

  addForm() {
    const text = h("textarea", { rows: "2", maxlength: MAX_TEXT, required: true, placeholder: "e.g. I live in Lyon and prefer metric units" });
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h("form", { class: "stack memory-add", "aria-label": "Add a memory" },
      labelled("New memory", text), error,
      h("div", {}, h("button", { type: "submit", class: "button small primary" }, "Add memory")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      try {
        const memory = (await api("POST", "/v1/users/me/memories", { body: { text: text.value } })).data;
        text.value = "";
        this.list.prepend(this.row(memory));
        this.setTotal(this.total + 1);
        announce("Memory added");
      } catch (err) {
        error.hidden = false;
        error.textContent = err.message;
      }
    });
    return form;
  }

  setTotal(total) {
    this.total = Math.max(0, total);
    this.count.textContent = `(${this.total})`;
    this.empty.hidden = this.total > 0;
    this.forgetAll.hidden = this.total === 0;
  }

  async load(more = false) {
    const offset = more ? this.list.childElementCount : 0;
    try {
      const page = await api("GET", `/v1/users/me/memories?limit=${PAGE}&offset=${offset}`);
      if (!more) this.list.replaceChildren();
      this.list.append(...page.data.map((m) => this.row(m)));
      this.more.hidden = !page.has_more;
      this.setTotal(page.total ?? this.list.childElementCount);
    } catch (error) {
      toast(`Memories could not be loaded: ${error.message}`, "error");
    }
  }

  /** Show the memory Settings was opened for (from a reply's "Remembered"). */
  async reveal() {
    if (!this.focusId) return;
    let row = this.list.querySelector(`[data-memory-id="${CSS.escape(this.focusId)}"]`);
    if (!row) {
      try {
        row = this.row((await api("GET", `/v1/users/me/memories/${encodeURIComponent(this.focusId)}`)).data);
        this.list.prepend(row);
      } catch (error) {
        this.notice.hidden = false;
        this.notice.textContent = error.status === 404 ? "That memory has been deleted." : error.message;
        return;
      }
    }
    row.classList.add("highlight");
    row.scrollIntoView({ block: "center" });
    row.focus();
  }

  row(memory) {
    const text = h("p", { class: "memory-text" }, memory.text);
    const origin = memory.source === "extracted" ? "learned from a chat" : "added by you";
    const meta = h("p", { class: "muted small" }, `${origin} · ${formatTime(memory.updated_at || memory.created_at)}`);
    const row = h("li", { class: "memory-row", tabindex: "-1", dataset: { memoryId: memory.id } }, text, meta);
    const actions = h("div", { class: "memory-actions" },
      h("button", { type: "button", class: "button small subtle", "aria-label": `Edit memory: ${short(memory.text)}`, onclick: () => this.edit(row, memory) }, "Edit"),
      h("button", { type: "button", class: "button small subtle", "aria-label": `Delete memory: ${short(memory.text)}`, onclick: () => this.remove(row, memory) }, "Delete"));
    row.append(actions);
    return row;
  }

  edit(row, memory) {
    const editor = h("textarea", { rows: "3", maxlength: MAX_TEXT, value: memory.text, "aria-label": "Edit memory" });
    const restore = () => {
      const fresh = this.row(memory);
      row.replaceWith(fresh);
      fresh.querySelector("button")?.focus();
    };
    const save = async () => {
      try {
        const updated = (await api("PATCH", `/v1/users/me/memories/${encodeURIComponent(memory.id)}`, { body: { text: editor.value } })).data;
        Object.assign(memory, updated);
        forgetReadMemory(memory.id);
        announce("Memory saved");
        restore();
      } catch (error) {
        toast(error.message, "error");
      }
    };
    editor.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        restore();
      }
    });
    replaceChildren(row, editor, h("div", { class: "memory-actions" },
      h("button", { type: "button", class: "button small", onclick: restore }, "Cancel"),
      h("button", { type: "button", class: "button small primary", onclick: save }, "Save memory")));
    editor.focus();
  }

  async remove(row, memory) {
    try {
      await api("DELETE", `/v1/users/me/memories/${encodeURIComponent(memory.id)}`);
    } catch (error) {
      if (error.status !== 404) return toast(error.message, "error");
    }
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    forgetReadMemory(memory.id);
    this.setTotal(this.total - 1);
    (next?.querySelector("button") || this.element.querySelector("textarea"))?.focus();
    announce("Memory deleted");
    return undefined;
  }

  async clear() {
    const what = this.total === 1 ? "your 1 memory" : `all ${this.total} memories`;
    if (!(await confirmAction(`Forget ${what}? Replies will not recall them again. This cannot be undone.`, "Forget all"))) return;
    try {
      const result = (await api("DELETE", "/v1/users/me/memories")).data;
      this.list.replaceChildren();
      this.more.hidden = true;
      this.setTotal(0);
      forgetReadMemory();
      announce(`${result.deleted_count} memories forgotten`);
      toast(`${result.deleted_count} memories forgotten`);
    } catch (error) {
      toast(error.message, "error");
    }
  }
}

export function memoryPanel(app, { memoryId = null } = {}) {
  return h("div", { class: "stack" }, configForm(app), new MemoryList(memoryId).element);
}
