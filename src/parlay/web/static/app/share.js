// The Share dialog: create a link (expiry, read-only, feedback), copy it, list and revoke.

import { api } from "./api.js";
import { announce, formatTime, h, modal, replaceChildren, toast } from "./dom.js";

const EXPIRIES = [
  ["", "Never"],
  ["3600", "1 hour"],
  ["86400", "1 day"],
  ["604800", "7 days"],
  ["2592000", "30 days"],
];

function linkBox(url) {
  const input = h("input", { type: "text", class: "share-link", readonly: true, value: url, "aria-label": "Share link" });
  const copy = h("button", { type: "button", class: "button small", onclick: async () => {
    try {
      await navigator.clipboard.writeText(url);
      copy.textContent = "Copied";
      announce("Link copied");
    } catch {
      input.select();
      copy.textContent = "Press Ctrl+C";
    }
    setTimeout(() => (copy.textContent = "Copy link"), 1500);
  } }, "Copy link");
  return h("div", { class: "link-row" }, input, copy);
}

function describe(share) {
  const parts = [share.read_only ? "read-only" : "can be copied"];
  if (share.allow_feedback) parts.push("feedback on");
  parts.push(share.expires_at ? `expires ${new Date(share.expires_at).toLocaleString()}` : "never expires");
  return `Created ${formatTime(share.created_at)} · ${parts.join(" · ")}`;
}

export function openShareDialog(conversation) {
  return modal("Share this chat", () => {
    const created = h("div", { class: "share-created", "aria-live": "polite" });
    const list = h("ul", { class: "share-list", "aria-label": "Active links" });
    const expiry = h("select", { id: "share-expiry", name: "expires_in" },
      EXPIRIES.map(([value, label]) => h("option", { value }, label)));
    const readOnly = h("input", { type: "checkbox", id: "share-read-only", checked: true });
    const feedback = h("input", { type: "checkbox", id: "share-feedback" });

    async function refresh() {
      try {
        const page = await api("GET", `/v1/conversations/${conversation.id}/shares?limit=100`);
        const active = page.data.filter((s) => s.status === "active");
        replaceChildren(list, active.length ? active.map(row) : h("li", { class: "muted small" }, "No active links."));
      } catch (error) {
        replaceChildren(list, h("li", { class: "form-error" }, error.message));
      }
    }

    function row(share) {
      return h("li", { class: "share-row" },
        linkBox(share.share_link),
        h("div", { class: "share-row-meta" },
          h("span", { class: "muted small" }, describe(share)),
          h("button", { type: "button", class: "button small danger", "aria-label": `Revoke the link created ${formatTime(share.created_at)}`, onclick: async (event) => {
            event.currentTarget.disabled = true;
            try {
              await api("DELETE", `/v1/shares/${share.id}`);
              announce("Link revoked");
              if (created.dataset.shareId === share.id) replaceChildren(created);
            } catch (error) {
              toast(error.message, "error");
            }
            refresh();
          } }, "Revoke")));
    }

    const form = h("form", { class: "stack" },
      h("div", { class: "field" }, h("label", { for: "share-expiry" }, "Link expires"), expiry),
      h("div", { class: "check" }, readOnly, h("label", { for: "share-read-only" }, "Read-only (viewers cannot copy it into their own chats)")),
      h("div", { class: "check" }, feedback, h("label", { for: "share-feedback" }, "Let viewers leave feedback")),
      h("button", { type: "submit", class: "button primary" }, "Create link"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { read_only: readOnly.checked, allow_feedback: feedback.checked };
      if (expiry.value) body.expires_in = Number(expiry.value);
      try {
        const share = (await api("POST", `/v1/conversations/${conversation.id}/share`, { body })).data;
        created.dataset.shareId = share.id;
        replaceChildren(created, h("p", {}, "Anyone with this link can read the chat as it is now:"), linkBox(share.share_link));
        created.querySelector("button")?.focus();
        announce("Link created");
        refresh();
      } catch (error) {
        toast(error.message, "error");
      }
    });
    refresh();
    return h("div", { class: "dialog-body" }, form, created, h("h3", {}, "Active links"), list);
  }, { className: "share-dialog" });
}
