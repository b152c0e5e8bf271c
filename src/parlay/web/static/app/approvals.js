// Tool calls waiting for the user's approval (/v1/tool-approvals): a card per approval (what
// would run and why it needs approval, Approve / Reject, then how it ended), and the count of
// pending approvals in the chat header, which opens the list.

import { api } from "./api.js";
import { announce, formatTime, h, icon, modal, replaceChildren, toast } from "./dom.js";
import { codeBlock, externalLink, toolResultView } from "./toolsteps.js";

const CATEGORIES = { system_calls: "system calls", network: "network access", all: "every call of this tool" };
const SOURCES = { mcp: "an MCP client", chat: "a chat", approval: "an approval", responses: "the Responses API" };
let uid = 0;

function whatItWouldDo(approval) {
  const args = approval.arguments && typeof approval.arguments === "object" ? approval.arguments : {};
  if (typeof args.code === "string") return codeBlock(args.code, "python");
  if (typeof args.query === "string") return h("p", {}, "Search for ", h("strong", {}, args.query));
  if (typeof args.url === "string") return h("p", {}, "Read ", externalLink(args.url));
  return h("pre", { tabindex: "0" }, h("code", {}, JSON.stringify(args, null, 2)));
}

function outcome(approval) {
  if (approval.status === "approved") {
    const result = approval.result || {};
    const ran = result.status === "completed" ? "It ran." : `It ran: ${result.status || "no result"}${result.error_code ? ` (${result.error_code})` : ""}.`;
    return h("div", { class: "approval-outcome" },
      h("p", {}, h("strong", {}, "Approved. "), ran),
      result.output ? h("div", { class: "approval-output tool-section" }, toolResultView(approval.tool, result.output, result.status === "completed" ? "completed" : "failed")) : null);
  }
  const text = approval.status === "rejected" ? "Rejected. It did not run." : "Expired without a decision. It did not run.";
  return h("div", { class: "approval-outcome" }, h("p", {}, text));
}

/** A card for one approval: `approval` is the object or its id (then read here).
 * onState(approval) runs whenever the card shows a state; onDecided(approval) after a click. */
export function approvalCard(approval, { onState, onDecided } = {}) {
  const headingId = `approval-${(uid += 1)}`;
  const card = h("section", { class: "approval", "aria-labelledby": headingId, "aria-live": "polite" },
    h("p", { class: "muted small", id: headingId }, "Checking the approval…"));

  const show = (value) => {
    card.dataset.approvalId = value.id;
    card.dataset.status = value.status;
    const pending = value.status === "pending";
    const why = value.categories?.length
      ? `It needs your approval: ${value.categories.map((c) => CATEGORIES[c] || c).join(", ")}.` : "";
    const from = SOURCES[value.source] ? ` Asked by ${SOURCES[value.source]}, ${formatTime(value.created_at)}.` : "";
    replaceChildren(card,
      h("div", { class: "approval-head" },
        h("h4", { id: headingId }, pending ? `Run ${value.tool}?` : value.tool),
        h("span", { class: `pill status-${value.status}` }, value.status)),
      h("p", { class: "muted small" }, why, from),
      whatItWouldDo(value),
      pending ? actions(value) : outcome(value),
      pending ? h("p", { class: "muted small" }, `Undecided, it expires ${formatTime(value.expires_at)}.`) : null);
    onState?.(value);
  };

  const actions = (value) => {
    const decide = async (kind, button) => {
      for (const b of card.querySelectorAll(".approval-actions button")) b.disabled = true;
      button.textContent = kind === "approve" ? "Running…" : "Rejecting…";
      try {
        const decided = (await api("POST", `/v1/tool-approvals/${encodeURIComponent(value.id)}/${kind}`)).data;
        show(decided);
        announce(kind === "approve" ? `Approved ${value.tool}` : `Rejected ${value.tool}`);
        onDecided?.(decided);
      } catch (error) {
        toast(error.message, "error");
        await load(value.id); // decided elsewhere, or expired: show what it is now
      }
    };
    const approve = h("button", { type: "button", class: "button small primary", onclick: (e) => decide("approve", e.currentTarget) }, "Approve");
    const reject = h("button", { type: "button", class: "button small danger", onclick: (e) => decide("reject", e.currentTarget) }, "Reject");
    return h("div", { class: "approval-actions" }, approve, reject);
  };

  const load = async (id) => {
    try {
      show((await api("GET", `/v1/tool-approvals/${encodeURIComponent(id)}`)).data);
    } catch (error) {
      replaceChildren(card, h("p", { class: "muted small", id: headingId },
        error.status === 404 ? "This approval no longer exists." : `The approval could not be read: ${error.message}`));
      if (error.status === 404) onState?.({ id, status: "gone" });
    }
  };

  if (typeof approval === "string") load(approval);
  else show(approval);
  return card;
}

/** The header button showing how many tool calls wait for approval; opens the list. */
export class PendingApprovals {
  constructor({ onDecided } = {}) {
    this.onDecided = onDecided;
    this.count = 0;
    this.label = h("span", { class: "approvals-count" }, "0");
    this.button = h("button", { type: "button", class: "button small approvals-button", hidden: true, onclick: () => this.open() },
      icon("shield"), this.label);
  }

  async pending() {
    const page = await api("GET", "/v1/tool-approvals?status=pending&limit=50");
    return { approvals: page.data, more: page.has_more };
  }

  async refresh() {
    try {
      const { approvals, more } = await this.pending();
      this.show(approvals.length, more);
    } catch {
      /* signed out or offline: the count stays as it was */
    }
  }

  show(count, more = false) {
    this.count = count;
    const text = `${count}${more ? "+" : ""}`;
    this.label.textContent = text;
    this.button.hidden = count === 0;
    this.button.setAttribute("aria-label", `Pending approvals: ${text}`);
    this.button.title = `${text} tool call${count === 1 ? "" : "s"} waiting for your approval`;
  }

  async open() {
    let approvals = [];
    try {
      ({ approvals } = await this.pending());
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    let decided = false;
    await modal("Waiting for your approval", () => {
      const list = h("div", { class: "approval-list" });
      if (!approvals.length) list.append(h("p", { class: "muted" }, "Nothing is waiting for your approval."));
      for (const approval of approvals) {
        list.append(approvalCard(approval, { onDecided: () => {
          decided = true;
          this.refresh();
        } }));
      }
      return h("div", { class: "dialog-body" },
        h("p", { class: "muted small" }, "A tool call that an admin marked as needing approval waits here until you decide. Approving runs it now."),
        list);
    }, { className: "approvals-dialog" });
    if (decided) this.onDecided?.();
  }
}
