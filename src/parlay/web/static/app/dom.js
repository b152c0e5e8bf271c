// Building the DOM without HTML strings: text always goes in as text.

/** h("button", {class: "x", onclick: fn, "aria-label": "Close"}, "text", childNode, ...) */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "value" || name === "checked" || name === "selected") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** Screen-reader announcement through the page's live region. */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = message;
  });
}

/** A short message at the bottom of the screen. */
export function toast(message, kind = "info") {
  let shelf = document.getElementById("toasts");
  if (!shelf) {
    shelf = h("div", { id: "toasts", class: "toasts" });
    document.body.append(shelf);
  }
  const note = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  shelf.append(note);
  setTimeout(() => note.remove(), kind === "error" ? 8000 : 3500);
}

/** A modal <dialog>; resolves with the value passed to close(value) (undefined on Escape). */
export function modal(title, build, { className = "" } = {}) {
  return new Promise((resolve) => {
    const heading = h("h2", { id: `dlg-${Math.random().toString(36).slice(2)}` }, title);
    const dialog = h("dialog", { class: `dialog ${className}`, "aria-labelledby": heading.id });
    let result;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    const closeButton = h("button", { class: "icon-button dialog-close", type: "button", "aria-label": "Close", title: "Close", onclick: () => close() }, icon("close"));
    dialog.append(h("header", { class: "dialog-header" }, heading, closeButton), build(close));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Ask before something that cannot be undone. */
export function confirmAction(message, confirmLabel = "Delete") {
  return modal("Are you sure?", (close) =>
    h("div", { class: "dialog-body" },
      h("p", {}, message),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "button", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: "button danger", onclick: () => close(true) }, confirmLabel))),
  ).then(Boolean);
}

export function formatTime(iso) {
  const date = new Date(iso);
  const now = new Date();
  const sameDay = date.toDateString() === now.toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString([], { month: "short", day: "numeric" });
}

/** Debounce: run `fn` once calls have stopped for `ms`. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const ICONS = {
  edit: "M4 20h4L18.5 9.5a2.1 2.1 0 0 0-3-3L5 17v3z",
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
  menu: "M4 6h16M4 12h16M4 18h16",
  close: "M6 6l12 12M18 6L6 18",
  previous: "M15 6l-6 6 6 6",
  next: "M9 6l6 6-6 6",
  shield: "M12 3l7 3v6c0 4.5-3 7.6-7 9-4-1.4-7-4.5-7-9V6l7-3zM9 12l2 2 4-4",
};

/** A small stroke icon (decorative: the button around it carries the name). */
export function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}
