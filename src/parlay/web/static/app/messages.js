// Conversation items -> elements, by item `type`:
//   message                 a user or assistant message (data-role="user|assistant")
//   function_call (+ its function_call_output, paired by call_id)
//                           one collapsible tool step (data-role="tool", see toolsteps.js)
//   anything else           a collapsed "unsupported item" line, never dropped silently
// A reply's `metadata.memories` shows as a "remembered" chip; a reply stopped for a tool
// call's approval (`metadata.stopped: "pending_approval"`) shows Approve / Reject and Continue.

import { h, icon } from "./dom.js";
import { renderInto } from "./markdown.js";
import { approvalCard } from "./approvals.js";
import { rememberedChip } from "./remembered.js";
import { callOf, outputOf, toolStep } from "./toolsteps.js";

const STATUS_TEXT = {
  in_progress: "Writing…",
  incomplete: "This reply is incomplete.",
  failed: "This reply failed.",
};

/** The approvals a reply stopped for: its `metadata.approvals`, else the pending tool
 * results since the last user message. */
function stoppedFor(items, index) {
  const listed = items[index].metadata?.approvals;
  if (Array.isArray(listed)) return listed.map((a) => a?.approval_id).filter((id) => typeof id === "string");
  const ids = [];
  for (let i = index - 1; i >= 0 && !(items[i].type === "message" && items[i].role === "user"); i -= 1) {
    if (items[i].type === "function_call_output") {
      const output = outputOf(items[i]);
      if (output.status === "pending_approval" && output.approvalId) ids.unshift(output.approvalId);
    }
  }
  return ids;
}

const isStopped = (item) => item.role === "assistant" && item.metadata?.stopped === "pending_approval";

/** The elements for `items`, in order. `view` holds per-item UI state and the actions. */
export function renderItems(items, view) {
  const outputs = new Map();
  const covered = new Map(); // approval id -> shown by the stopped reply at this index
  items.forEach((item, index) => {
    if (item.type === "function_call_output") {
      const callId = outputOf(item).callId;
      if (callId) outputs.set(callId, item);
    } else if (isStopped(item)) {
      for (const id of stoppedFor(items, index)) covered.set(id, index);
    }
  });
  const paired = new Set();
  const elements = [];
  const approvalView = (id) => (covered.has(id) ? null : approvalCard(id, { onDecided: () => view.approvalDecided?.() }));
  items.forEach((item, index) => {
    if (item.type === "function_call_output" && paired.has(outputOf(item).callId)) return;
    if (item.type === "function_call") {
      const callId = callOf(item).callId;
      const output = callId ? outputs.get(callId) : undefined;
      if (output) paired.add(callId);
      const ended = !output && items.slice(index + 1).some((later) => later.type === "message");
      const key = [item.id, output?.id, output?.updated_at, output?.status, ended].join("|");
      elements.push(view.cachedKey(`step:${item.id}`, key, () => toolStep(item, output, { approvalView, ended })));
    } else if (item.type === "function_call_output") {
      elements.push(view.cachedKey(`step:${item.id}`, [item.id, item.updated_at].join("|"), () => toolStep(null, item, { approvalView })));
    } else if (item.type === "message" || item.role) {
      const approvals = isStopped(item) ? stoppedFor(items, index) : null;
      elements.push(view.cached(item, () => messageElement(item, view, approvals)));
    } else {
      elements.push(h("details", { class: "unsupported-item" }, h("summary", {}, `Unsupported item (${item.type})`)));
    }
  });
  return elements;
}

function roleLabel(role) {
  return { user: "You", assistant: "Assistant", system: "System", developer: "Developer", tool: "Tool" }[role] || role;
}

/** The content the version arrows point at: earlier versions first, the current one last. */
export function versionsOf(item) {
  const earlier = (item.versions || []).map((v) => ({ content: v.content, status: v.status, model: v.model, metadata: v.metadata }));
  return [...earlier, { content: item.content, status: item.status, model: item.model, metadata: item.metadata }];
}

export function messageElement(item, view, approvals = null) {
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
  const latest = shown === versions.length - 1;
  if (role === "assistant" && latest && approvals) {
    article.append(approvalStop(item, approvals, view));
  } else if (role === "assistant" && version.status !== "completed" && latest) {
    article.append(statusLine(item, version.status, view));
  }
  const memories = latest ? item.metadata?.memories : versions[shown].metadata?.memories;
  if (Array.isArray(memories) && memories.length) {
    article.append(rememberedChip(memories, { openMemory: (id) => view.openMemory?.(id) }));
  }
  article.append(actionsBar(item, role, versions, shown, view));
  return article;
}

function statusLine(item, status, view) {
  return h("div", { class: `message-status status-${status}`, role: status === "in_progress" ? null : "note" },
    h("span", {}, STATUS_TEXT[status] || status),
    status === "in_progress" ? null : h("button", { type: "button", class: "button small", onclick: () => view.regenerate(item) }, "Retry"));
}

/** A reply stopped for approval: a card per approval, then Continue (answers again from
 * the decisions) once none is pending. */
function approvalStop(item, approvals, view) {
  const pending = new Set(approvals);
  const proceed = h("button", { type: "button", class: "button small primary", disabled: approvals.length > 0, onclick: () => view.regenerate(item) }, "Continue");
  const hint = h("span", { class: "muted small" }, approvals.length ? "Decide first." : "");
  const cards = approvals.map((id) => approvalCard(id, {
    onState: (approval) => {
      if (approval.status === "pending") pending.add(id);
      else pending.delete(id);
      proceed.disabled = pending.size > 0;
      hint.textContent = pending.size ? "Decide first." : "";
    },
    onDecided: () => view.approvalDecided?.(),
  }));
  return h("div", { class: "approval-stop", role: "group", "aria-label": "Waiting for your approval" },
    h("p", { class: "message-status status-incomplete" }, "A tool call needs your approval before this reply can go on."),
    cards,
    h("div", { class: "approval-continue" }, proceed, hint));
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

/** The placeholders shown while a reply streams: the message as sent (none when a reply is
 * answered again: `userText` null), and the reply (its body is re-rendered as text arrives). */
export function streamingElements(userText, model) {
  const body = h("div", { class: "message-body markdown" });
  const steps = h("div", { class: "streaming-steps" });
  const element = h("article", { class: "message streaming", "data-role": "assistant", "aria-label": "Assistant message", "aria-busy": "true", dataset: { status: "in_progress" } },
    h("div", { class: "message-meta" }, h("span", { class: "who" }, "Assistant"), h("span", { class: "model-name" }, model)),
    steps,
    body,
    h("div", { class: "message-status status-in_progress" }, h("span", { class: "typing" }, "Writing…")));
  const pendingUser = userText === null ? null : h("article", { class: "message pending", "data-role": "user", "aria-label": "You message" },
    h("div", { class: "message-meta" }, h("span", { class: "who" }, "You")),
    h("div", { class: "message-body plain" }, userText));
  return { element, body, steps, pendingUser, text: "", frame: 0, calls: new Map() };
}

/** A tool call or result that arrived in a reply's stream (`parlay_item`): shown as a step
 * above the streaming text; a result replaces its call's step. */
export function addStreamedItem(stream, item) {
  if (item?.type === "function_call") {
    const element = toolStep(item, null);
    stream.calls.set(callOf(item).callId, { call: item, element });
    stream.steps.append(element);
  } else if (item?.type === "function_call_output") {
    const entry = stream.calls.get(outputOf(item).callId);
    const element = toolStep(entry?.call ?? null, item);
    if (entry) {
      entry.element.replaceWith(element);
      entry.element = element;
    } else {
      stream.steps.append(element);
    }
  }
}
