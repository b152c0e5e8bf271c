// Conversation items -> elements, by item `type`:
//   message                 a user or assistant message (data-role="user|assistant")
//   function_call (+ its function_call_output, paired by call_id)
//                           one collapsible tool step (data-role="tool")
//   anything else           a collapsed "unsupported item" line, never dropped silently
// A reply's `metadata.memories` shows as "remembered" chips.

import { h, icon } from "./dom.js";
import { renderInto } from "./markdown.js";

const STATUS_TEXT = {
  in_progress: "Writing…",
  incomplete: "This reply is incomplete.",
  failed: "This reply failed.",
};

/** The elements for `items`, in order. `view` holds per-item UI state and the actions. */
export function renderItems(items, view) {
  const outputs = new Map();
  for (const item of items) {
    if (item.type === "function_call_output" && item.call_id) outputs.set(item.call_id, item);
  }
  const paired = new Set();
  const elements = [];
  for (const item of items) {
    if (item.type === "function_call_output" && paired.has(item.call_id)) continue;
    if (item.type === "function_call") {
      const output = outputs.get(item.call_id);
      if (output) paired.add(item.call_id);
      elements.push(toolStep(item, output));
    } else if (item.type === "function_call_output") {
      elements.push(toolStep(null, item));
    } else if (item.type === "message" || item.role) {
      elements.push(view.cached(item, () => messageElement(item, view)));
    } else {
      elements.push(h("details", { class: "unsupported-item" }, h("summary", {}, `Unsupported item (${item.type})`)));
    }
  }
  return elements;
}

function roleLabel(role) {
  return { user: "You", assistant: "Assistant", system: "System", developer: "Developer", tool: "Tool" }[role] || role;
}

/** The content the version arrows point at: earlier versions first, the current one last. */
export function versionsOf(item) {
  const earlier = (item.versions || []).map((v) => ({ content: v.content, status: v.status, model: v.model }));
  return [...earlier, { content: item.content, status: item.status, model: item.model }];
}

export function messageElement(item, view) {
  const versions = versionsOf(item);
  const shown = Math.min(view.versionIndex(item.id) ?? versions.length - 1, versions.length - 1);
  const version = versions[shown];
  const role = item.role === "assistant" || item.role === "user" ? item.role : "system";
  const body = h("div", { class: role === "assistant" ? "message-body markdown" : "message-body plain" });
  if (role === "assistant") renderInto(body, version.content);
  else body.textContent = version.content;
  const article = h("article", {
    class: "message", "data-role": role, dataset: { id: item.id, status: version.status },
    "aria-label": `${roleLabel(item.role)} message`,
  },
  h("div", { class: "message-meta" },
    h("span", { class: "who" }, roleLabel(item.role)),
    role === "assistant" && version.model ? h("span", { class: "model-name" }, version.model) : null),
  body);
  if (role === "assistant" && version.status !== "completed" && shown === versions.length - 1) {
    article.append(statusLine(item, version.status, view));
  }
  const memories = item.metadata?.memories;
  if (Array.isArray(memories) && memories.length) article.append(memoryChips(memories));
  article.append(actionsBar(item, role, versions, shown, view));
  return article;
}

function statusLine(item, status, view) {
  return h("div", { class: `message-status status-${status}`, role: status === "in_progress" ? null : "note" },
    h("span", {}, STATUS_TEXT[status] || status),
    status === "in_progress" ? null : h("button", { type: "button", class: "button small", onclick: () => view.regenerate(item) }, "Retry"));
}

function memoryChips(memories) {
  return h("div", { class: "memory-chips", "aria-label": "Remembered" },
    h("span", { class: "chips-label" }, "Remembered:"),
    memories.map((m) => h("span", { class: "chip", title: typeof m === "string" ? m : m.text || "" },
      typeof m === "string" ? m : m.text || m.id || "memory")));
}

function actionsBar(item, role, versions, shown, view) {
  const bar = h("div", { class: "message-actions" });
  if (versions.length > 1) {
    bar.append(h("span", { class: "versions" },
      h("button", { type: "button", class: "icon-button", "aria-label": "Previous version", title: "Previous version", disabled: shown === 0, onclick: () => view.showVersion(item, shown - 1) }, icon("previous")),
      h("span", { class: "version-count", "aria-label": `Version ${shown + 1} of ${versions.length}` }, `${shown + 1}/${versions.length}`),
      h("button", { type: "button", class: "icon-button", "aria-label": "Next version", title: "Next version", disabled: shown === versions.length - 1, onclick: () => view.showVersion(item, shown + 1) }, icon("next"))));
  }
  if (role === "assistant") {
    bar.append(
      h("button", { type: "button", class: "button small subtle", onclick: (event) => view.copy(versions[shown].content, event.currentTarget) }, "Copy"),
      h("button", { type: "button", class: "button small subtle", onclick: () => view.regenerate(item) }, "Regenerate"));
  }
  if (role === "user") {
    bar.append(h("button", { type: "button", class: "button small subtle", onclick: () => view.edit(item) }, "Edit"));
  }
  bar.append(h("button", { type: "button", class: "button small subtle", "aria-label": `Delete this ${role === "user" ? "message" : "reply"}`, onclick: () => view.deleteItem(item) }, "Delete"));
  return bar;
}

// -- tool steps ------------------------------------------------------------------------------

function parseJson(text) {
  if (typeof text !== "string") return text;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const safeUrl = (url) => (typeof url === "string" && /^https?:\/\//i.test(url) ? url : null);

function outputView(output) {
  const text = typeof output.output === "string" ? output.output : output.content || "";
  const data = parseJson(text);
  const results = Array.isArray(data?.results) ? data.results : null;
  if (results) {
    return h("ol", { class: "search-results" }, results.map((r) => h("li", {},
      safeUrl(r.url) ? h("a", { href: safeUrl(r.url), target: "_blank", rel: "noopener noreferrer nofollow" }, r.title || r.url) : h("span", {}, r.title || ""),
      r.snippet || r.content ? h("p", { class: "muted small" }, r.snippet || r.content) : null)));
  }
  if (data && ("stdout" in data || "stderr" in data)) {
    return h("div", { class: "code-run" },
      data.stdout ? h("pre", { tabindex: "0" }, h("code", {}, data.stdout)) : null,
      data.stderr ? h("pre", { class: "stderr", tabindex: "0" }, h("code", {}, data.stderr)) : null,
      "exit_code" in data ? h("p", { class: "muted small" }, `exit status ${data.exit_code}`) : null);
  }
  if (data && typeof data.text === "string") {
    const body = h("div", { class: "markdown scraped" });
    renderInto(body, data.text);
    return h("div", {}, data.title ? h("p", {}, h("strong", {}, data.title)) : null, safeUrl(data.url) ? h("a", { href: safeUrl(data.url), target: "_blank", rel: "noopener noreferrer nofollow" }, data.url) : null, body);
  }
  return h("pre", { tabindex: "0" }, h("code", {}, text));
}

function argumentsView(call) {
  const args = parseJson(call.arguments) ?? call.arguments;
  if (args && typeof args.code === "string") return h("pre", { tabindex: "0" }, h("code", {}, args.code));
  const shown = typeof args === "string" ? args : JSON.stringify(args, null, 2);
  return h("pre", { tabindex: "0" }, h("code", {}, shown ?? ""));
}

export function toolStep(call, output) {
  const name = call?.name || output?.name || "tool";
  const state = !output ? "running" : output.status === "failed" ? "failed" : "done";
  return h("details", { class: `tool-step state-${state}`, "data-role": "tool", dataset: { id: (call || output).id } },
    h("summary", {}, h("span", { class: "tool-name" }, `Tool: ${name}`), h("span", { class: "muted small" }, state === "running" ? " · running" : state === "failed" ? " · failed" : "")),
    call ? h("div", { class: "tool-section" }, h("h4", {}, "Input"), argumentsView(call)) : null,
    output ? h("div", { class: "tool-section" }, h("h4", {}, "Result"), outputView(output)) : null);
}

/** The placeholder pair shown while a reply streams: the message as sent, and the reply
 * (its body is re-rendered as text arrives). */
export function streamingElements(userText, model) {
  const body = h("div", { class: "message-body markdown" });
  const element = h("article", { class: "message streaming", "data-role": "assistant", "aria-label": "Assistant message", "aria-busy": "true", dataset: { status: "in_progress" } },
    h("div", { class: "message-meta" }, h("span", { class: "who" }, "Assistant"), h("span", { class: "model-name" }, model)),
    body,
    h("div", { class: "message-status status-in_progress" }, h("span", { class: "typing" }, "Writing…")));
  const pendingUser = h("article", { class: "message pending", "data-role": "user", "aria-label": "You message" },
    h("div", { class: "message-meta" }, h("span", { class: "who" }, "You")),
    h("div", { class: "message-body plain" }, userText));
  return { element, body, pendingUser, text: "", frame: 0 };
}
