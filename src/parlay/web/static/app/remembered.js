// "Remembered" on a reply that used memories (`metadata.memories`: [{id, similarity}], ids
// only): a chip that expands to the memories' texts, read by id when first opened (a memory
// deleted since says so), each with a way to it in Settings.

import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";

const read = new Map(); // memory id -> Promise<memory | null>

/** Settings changed or deleted a memory: read it again next time. No id: forget them all. */
export function forgetReadMemory(id) {
  if (id) read.delete(id);
  else read.clear();
}

function readMemory(id) {
  if (!read.has(id)) {
    read.set(id, api("GET", `/v1/users/me/memories/${encodeURIComponent(id)}`)
      .then((body) => body.data)
      .catch((error) => {
        if (error.status === 404) return null;
        read.delete(id);
        throw error;
      }));
  }
  return read.get(id);
}

/** Entries as stored ({id, similarity}), or older shapes ({id, text} / a string). */
function normalise(entry) {
  if (typeof entry === "string") return { id: null, text: entry, similarity: null };
  if (!entry || typeof entry !== "object") return null;
  const similarity = typeof entry.similarity === "number" ? entry.similarity : null;
  return { id: typeof entry.id === "string" ? entry.id : null, text: typeof entry.text === "string" ? entry.text : null, similarity };
}

function entryRow(entry, openMemory) {
  const text = h("span", { class: "remembered-text" }, entry.text ?? (entry.id ? "Loading…" : "A memory"));
  const score = entry.similarity === null ? null : h("span", { class: "muted small" }, ` · similarity ${entry.similarity.toFixed(2)}`);
  const open = entry.id && openMemory
    ? h("button", { type: "button", class: "button small subtle", onclick: () => openMemory(entry.id) }, "Show in settings")
    : null;
  const row = h("li", { dataset: { memoryId: entry.id || "" } }, text, score, open);
  if (entry.text === null && entry.id) {
    readMemory(entry.id).then((memory) => {
      if (memory) {
        text.textContent = memory.text;
      } else {
        text.textContent = "A memory you have deleted since.";
        row.classList.add("gone");
        open?.remove();
      }
    }, (error) => {
      text.textContent = `This memory could not be read: ${error.message}`;
    });
  }
  return row;
}

export function rememberedChip(entries, { openMemory } = {}) {
  const memories = entries.map(normalise).filter(Boolean);
  const count = memories.length === 1 ? "1 memory" : `${memories.length} memories`;
  const list = h("ul", { class: "remembered-list", "aria-label": "Memories this reply used" });
  const details = h("details", { class: "remembered" },
    h("summary", { class: "chip", title: "This reply recalled what you asked Parlay to remember" }, `Remembered ${count}`),
    list);
  details.addEventListener("toggle", () => {
    if (details.open && !list.childElementCount) replaceChildren(list, memories.map((m) => entryRow(m, openMemory)));
  });
  return details;
}
