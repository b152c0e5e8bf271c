// Pieces the admin pages share: labelled checkboxes, tables, a button that runs an action.

import { announce, h, toast } from "../dom.js";

export const lines = (text) => text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
export const number = (n) => Number(n).toLocaleString();
let uid = 0;
export const nextId = (prefix) => `${prefix}-${(uid += 1)}`;

export function check(label, checked, onchange, accessibleName) {
  const id = nextId("chk");
  return h("span", { class: "check inline" }, h("input", { type: "checkbox", id, checked, onchange, "aria-label": accessibleName }), h("label", { for: id }, label));
}

export function field(label, control, hint) {
  control.id ||= nextId("fld");
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "muted small hint", id: nextId("hint") }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

export function table(caption, headings, rows) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h("table", { class: "data-table" },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: String(headings.length), class: "muted" }, "Nothing yet.")))));
}

/** Disable `button` while `work` runs; a failure is a toast, success is announced. */
export async function run(button, work, done) {
  button.disabled = true;
  try {
    await work();
    if (done) announce(done);
    return true;
  } catch (error) {
    toast(error.message, "error");
    return false;
  } finally {
    button.disabled = false;
  }
}

/** An API error as one line, naming the field when the server did. */
export const errorText = (error) => (error.param ? `${error.param}: ${error.message}` : error.message);
