// Form pieces the settings panels share: a control with its label (and hint), tabs.

import { h } from "../dom.js";

let counter = 0;
export const nextId = (prefix = "set") => `${prefix}-${(counter += 1)}`;

export function labelled(label, control, hint) {
  control.id ||= nextId();
  const isCheck = control.type === "checkbox";
  const labelEl = h("label", { for: control.id }, label);
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "muted small hint", id: nextId("hint") }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: isCheck ? "check" : "field" }, isCheck ? [control, labelEl] : [labelEl, control], hintEl);
}

export function textInput(value, maxlength, multiline = false) {
  return multiline
    ? h("textarea", { rows: "3", maxlength, value: value ?? "" })
    : h("input", { type: "text", maxlength, value: value ?? "" });
}

/** ARIA tabs: arrow keys, Home and End move between tabs; a panel is built when first shown.
 * sections: [{id, label, build() -> Element}]. Returns {element, select(id)}. */
export function tabs(sections, label) {
  const list = h("div", { class: "tabs", role: "tablist", "aria-label": label });
  const holder = h("div", { class: "tab-panels" });
  const entries = sections.map((section) => {
    const tab = h("button", { type: "button", role: "tab", class: "tab", id: nextId("tab"), "aria-selected": "false", tabindex: "-1" }, section.label);
    const panel = h("div", { role: "tabpanel", class: "tab-panel", id: nextId("panel"), "aria-labelledby": tab.id, hidden: true, tabindex: "0" });
    tab.setAttribute("aria-controls", panel.id);
    list.append(tab);
    holder.append(panel);
    return { ...section, tab, panel, built: false };
  });
  const select = (id, focus = false) => {
    for (const entry of entries) {
      const on = entry.id === id;
      entry.tab.setAttribute("aria-selected", String(on));
      entry.tab.tabIndex = on ? 0 : -1;
      entry.panel.hidden = !on;
      if (on && !entry.built) {
        entry.built = true;
        entry.panel.append(entry.build());
      }
      if (on && focus) entry.tab.focus();
    }
  };
  entries.forEach((entry, index) => {
    entry.tab.addEventListener("click", () => select(entry.id));
    entry.tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: entries.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select(entries[(moves[event.key] + entries.length) % entries.length].id, true);
    });
  });
  return { element: h("div", { class: "tabbed" }, list, holder), select };
}
