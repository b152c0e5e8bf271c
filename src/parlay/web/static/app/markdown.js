// Markdown from a model, made safe: marked parses it (raw HTML is shown as text, images as
// links), DOMPurify keeps an allow-list of elements and attributes, links open in a new tab
// without a referrer, and code blocks get highlighting (grammars load on first use) and a
// Copy button. Used by the app and by the public share page.

import { Marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.es.mjs";
import hljs from "../vendor/highlight/core.min.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    // A model's (or a user's) HTML is text to read, never markup to run.
    html({ text, block }) {
      return block ? `<p>${escapeHtml(text)}</p>` : escapeHtml(text);
    },
    // No remote images: they would leak the reader's address and are blocked by the CSP.
    image({ href, text }) {
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || "image")}</a>`;
    },
  },
});

const PURIFY = {
  ALLOWED_TAGS: [
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "input", "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
  ],
  ALLOWED_ATTR: ["href", "title", "class", "align", "start", "type", "checked", "disabled"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    if (node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  } else if (node.tagName === "INPUT") {
    // Only marked's task-list boxes get here (raw HTML is escaped): keep them inert.
    node.setAttribute("type", "checkbox");
    node.setAttribute("disabled", "");
  }
});

/** Markdown text -> a sanitised DocumentFragment (no HTML string ever reaches the page). */
export function renderMarkdown(text) {
  const html = marked.parse(String(text ?? ""), { async: false });
  return DOMPurify.sanitize(html, PURIFY);
}

// -- code blocks ----------------------------------------------------------------------------

const GRAMMARS = new Set([
  "bash", "c", "cpp", "csharp", "css", "diff", "dockerfile", "go", "ini", "java", "javascript",
  "json", "kotlin", "lua", "makefile", "markdown", "php", "plaintext", "powershell", "python",
  "ruby", "rust", "scss", "shell", "sql", "swift", "typescript", "xml", "yaml",
]);
const ALIASES = {
  sh: "bash", zsh: "bash", console: "shell", js: "javascript", jsx: "javascript", mjs: "javascript",
  ts: "typescript", tsx: "typescript", py: "python", python3: "python", rb: "ruby", rs: "rust",
  golang: "go", html: "xml", svg: "xml", xhtml: "xml", toml: "ini", yml: "yaml", md: "markdown",
  "c++": "cpp", cc: "cpp", h: "c", hpp: "cpp", cs: "csharp", kt: "kotlin", ps1: "powershell",
  docker: "dockerfile", make: "makefile", text: "plaintext", txt: "plaintext", patch: "diff",
  postgresql: "sql", postgres: "sql", jsonc: "json",
};
const loading = new Map();

function grammarName(code) {
  const match = /(?:^|\s)language-([\w+#.-]+)/.exec(code.className);
  if (!match) return null;
  const name = match[1].toLowerCase();
  const resolved = ALIASES[name] || name;
  return GRAMMARS.has(resolved) ? resolved : null;
}

function loadGrammar(name) {
  if (!loading.has(name)) {
    const url = new URL(`../vendor/highlight/languages/${name}.min.js`, import.meta.url);
    loading.set(name, import(url.href).then((module) => hljs.registerLanguage(name, module.default)));
  }
  return loading.get(name);
}

async function highlight(code) {
  const name = grammarName(code);
  if (!name || name === "plaintext") return;
  try {
    await loadGrammar(name);
    const result = hljs.highlight(code.textContent, { language: name, ignoreIllegals: true });
    // hljs escapes the text it wraps in <span class="hljs-...">: still, purify it.
    code.replaceChildren(DOMPurify.sanitize(result.value, { ...PURIFY, ALLOWED_TAGS: ["span"], ALLOWED_ATTR: ["class"] }));
    code.classList.add("hljs");
  } catch {
    /* an unknown or broken grammar leaves the code plain */
  }
}

function copyButton(code) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy-code";
  button.textContent = "Copy";
  button.setAttribute("aria-label", "Copy code");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code.textContent);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Press Ctrl+C";
      getSelection().selectAllChildren(code);
    }
    setTimeout(() => {
      button.textContent = "Copy";
    }, 1500);
  });
  return button;
}

/** Give each <pre><code> a header (language, Copy) and highlighting. */
export function decorateCode(root, { highlightCode = true } = {}) {
  for (const pre of root.querySelectorAll("pre")) {
    const code = pre.querySelector("code");
    if (!code || pre.parentElement?.classList.contains("code-block")) continue;
    const label = document.createElement("span");
    label.className = "code-lang";
    label.textContent = grammarName(code) || (/language-([\w+#.-]+)/.exec(code.className)?.[1] ?? "code");
    const bar = document.createElement("div");
    bar.className = "code-bar";
    bar.append(label, copyButton(code));
    const block = document.createElement("div");
    block.className = "code-block";
    pre.replaceWith(block);
    block.append(bar, pre);
    pre.tabIndex = 0; // scrollable code must be reachable by keyboard
    if (highlightCode) highlight(code);
  }
}

/** Render `text` into `element` (replacing its content). */
export function renderInto(element, text, { highlightCode = true } = {}) {
  element.replaceChildren(renderMarkdown(text));
  decorateCode(element, { highlightCode });
}
