// A tool call and its result as one collapsible step (data-role="tool"): what the model asked
// for (a search query, a URL, code) and what came back (results as links, the page's title,
// address and an excerpt, the program's output and exit status). Items come stored
// (`content_parts[0]` holds call_id, name, arguments / output, status) or streamed
// (`parlay_item`: the same fields at the top level). Everything is text in the DOM: tool
// output is never parsed as HTML, and a scraped page's Markdown goes through the sanitiser.

import { h } from "./dom.js";
import { renderInto } from "./markdown.js";

const EXCERPT_CHARS = 600;
const TOOL_STATUSES = new Set(["completed", "failed", "refused", "pending_approval"]);
const STATE_TEXT = {
  running: "running…",
  missing: "no result",
  failed: "failed",
  refused: "refused",
  pending_approval: "waiting for your approval",
};

const str = (value) => (typeof value === "string" ? value : value == null ? "" : String(value));

function part(item, type) {
  const parts = Array.isArray(item?.content_parts) ? item.content_parts : [];
  return parts.find((p) => p && typeof p === "object" && p.type === type) || {};
}

/** A function_call item, stored or streamed: {id, callId, name, arguments}. */
export function callOf(item) {
  const p = part(item, "function_call");
  return {
    id: item.id,
    callId: item.call_id ?? p.call_id ?? null,
    name: str(item.name ?? p.name) || "tool",
    arguments: str(item.arguments ?? p.arguments ?? item.content),
  };
}

/** A function_call_output item: {id, callId, text, status, approvalId, metadata}. */
export function outputOf(item) {
  const p = part(item, "function_call_output");
  const raw = item.output ?? p.output;
  const status = [p.status, item.status].find((s) => TOOL_STATUSES.has(s))
    ?? (item.status === "incomplete" ? "pending_approval" : item.status === "failed" ? "failed" : "completed");
  const metadata = item.metadata && typeof item.metadata === "object" ? item.metadata : {};
  return {
    id: item.id,
    callId: item.call_id ?? p.call_id ?? null,
    text: typeof raw === "string" ? raw : str(item.content),
    status,
    approvalId: item.approval_id ?? metadata.approval_id ?? null,
    metadata,
    name: metadata.tool || null,
  };
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/** An http(s) URL as an absolute href, or null (javascript:, data:, relative... are text). */
export function safeUrl(url) {
  if (typeof url !== "string") return null;
  try {
    const parsed = new URL(url.trim());
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

export function externalLink(url, text) {
  const href = safeUrl(url);
  return href
    ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, text || url)
    : h("span", {}, text || str(url));
}

const pre = (text, className) => h("pre", { class: className, tabindex: "0" }, h("code", {}, text));

// -- what the tool was asked ---------------------------------------------------------------

function argsOf(call) {
  const parsed = parseJson(call.arguments);
  return isObject(parsed) ? parsed : null;
}

function summaryText(name, args) {
  if (name === "web_search" && args?.query) return `Searched the web for “${str(args.query)}”`;
  if (name === "web_scraper" && args?.url) return `Read ${str(args.url)}`;
  if (name === "code_executor") return `Ran ${str(args?.language || "python")} code`;
  const [server, tool] = name.includes("__") ? name.split("__", 2) : [null, name];
  return server ? `Used ${tool} (${server})` : `Used ${tool}`;
}

/** Code as a highlighted Markdown code block (with Copy), fenced longer than any backtick
 * run inside it so the code cannot end the block early. */
export function codeBlock(code, language = "python") {
  const longest = Math.max(0, ...(code.match(/`+/g) || []).map((run) => run.length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  const body = h("div", { class: "markdown tool-code" });
  renderInto(body, `${fence}${language}\n${code}\n${fence}`);
  return body;
}

function inputView(call) {
  const args = argsOf(call);
  if (call.name === "code_executor" && typeof args?.code === "string") {
    return codeBlock(args.code, /^[\w+#.-]+$/.test(str(args.language)) ? str(args.language) : "python");
  }
  // A search's query and a page's address are in the step's summary already.
  if (call.name === "web_search" && typeof args?.query === "string") return null;
  if (call.name === "web_scraper" && typeof args?.url === "string") return null;
  return pre(args ? JSON.stringify(args, null, 2) : call.arguments);
}

// -- what came back ------------------------------------------------------------------------

function structured(output) {
  if (isObject(output.metadata.data)) return output.metadata.data;
  const parsed = parseJson(output.text);
  return isObject(parsed) ? parsed : null;
}

/** web_search: [{title, url, snippet}] from structured data or Parlay's numbered text. */
export function searchResults(output) {
  const data = structured(output);
  if (Array.isArray(data?.results)) {
    return data.results.filter(isObject).map((r) => ({ title: str(r.title), url: str(r.url), snippet: str(r.snippet ?? r.content) }));
  }
  const results = [];
  let current = null;
  for (const line of output.text.split("\n")) {
    const head = /^\d+\. (.*)$/.exec(line);
    if (head) {
      current = { title: head[1], url: "", snippet: "" };
      results.push(current);
    } else if (current && line.startsWith("   ")) {
      const value = line.trim();
      if (!current.url && !current.snippet && /^\S+$/.test(value)) current.url = value;
      else current.snippet = current.snippet ? `${current.snippet} ${value}` : value;
    }
  }
  return results.length ? results : null;
}

/** web_scraper: {title, url, text} from structured data or Parlay's "# title / URL:" text. */
export function scrapedPage(output) {
  const data = structured(output);
  if (data && typeof (data.content ?? data.text) === "string") {
    return { title: str(data.title), url: str(data.final_url || data.url), text: str(data.content ?? data.text) };
  }
  const match = /^(?:# (.*)\n\n)?URL: (\S+)\n\n([\s\S]*)$/.exec(output.text);
  return match ? { title: match[1] || "", url: match[2], text: match[3] } : null;
}

/** code_executor: {exit, limit, stdout, stderr} from structured data or Parlay's text. */
export function codeRun(output) {
  const data = structured(output);
  if (data && ("stdout" in data || "stderr" in data)) {
    return { exit: data.exit_code ?? data.exit_status ?? null, limit: data.limit ?? null, stdout: str(data.stdout), stderr: str(data.stderr) };
  }
  const match = /^exit status: (.*)\n(?:stopped by the (.*) limit\n)?stdout:(?: \(empty\)|\n([\s\S]*?))\nstderr:(?: \(empty\)|\n([\s\S]*))$/.exec(output.text);
  if (!match) return null;
  return { exit: match[1], limit: match[2] || null, stdout: match[3] || "", stderr: match[4] || "" };
}

function searchView(results) {
  if (!results.length) return h("p", { class: "muted small" }, "No results.");
  return h("ol", { class: "search-results" }, results.map((r) => h("li", {},
    externalLink(r.url, r.title || r.url),
    r.url && safeUrl(r.url) ? h("div", { class: "result-url muted small" }, r.url) : null,
    r.snippet ? h("p", { class: "small" }, r.snippet) : null)));
}

/** The start of a page's Markdown: whole paragraphs up to EXCERPT_CHARS when they fit. */
function excerptOf(text) {
  if (text.length <= EXCERPT_CHARS) return text;
  const head = text.slice(0, EXCERPT_CHARS);
  const paragraph = head.lastIndexOf("\n\n");
  if (paragraph > EXCERPT_CHARS / 4) return head.slice(0, paragraph);
  const word = head.lastIndexOf(" ");
  return `${head.slice(0, word > 0 ? word : EXCERPT_CHARS)}…`;
}

function pageView(page) {
  const excerpt = h("div", { class: "markdown excerpt" });
  renderInto(excerpt, excerptOf(page.text));
  const whole = h("details", { class: "page-text" }, h("summary", {}, `The whole text (${page.text.length.toLocaleString()} characters)`));
  whole.addEventListener("toggle", () => {
    excerpt.hidden = whole.open;
    if (whole.open && whole.childElementCount === 1) {
      const body = h("div", { class: "markdown scraped" });
      renderInto(body, page.text);
      whole.append(body);
    }
  });
  return h("div", { class: "scraped-page" },
    page.title ? h("p", { class: "page-title" }, h("strong", {}, page.title)) : null,
    page.url ? h("p", { class: "small" }, externalLink(page.url)) : null,
    excerpt,
    page.text.length > EXCERPT_CHARS ? whole : null);
}

function codeRunView(run) {
  const ok = String(run.exit) === "0" && !run.limit;
  return h("div", { class: "code-run" },
    h("p", { class: `exit-status ${ok ? "ok" : "bad"}` },
      `Exit status ${run.exit ?? "none"}`, run.limit ? ` · stopped by the ${String(run.limit).replace(/_/g, " ")} limit` : ""),
    h("h5", {}, "Output"), run.stdout ? pre(run.stdout) : h("p", { class: "muted small" }, "(no output)"),
    run.stderr ? [h("h5", {}, "Errors"), pre(run.stderr, "stderr")] : null);
}

function resultView(name, output) {
  if (output.status !== "completed" && output.status !== "failed") {
    return h("p", { class: "tool-message" }, output.text);
  }
  const view = name === "web_search" ? searchResults(output)
    : name === "web_scraper" ? scrapedPage(output)
      : name === "code_executor" ? codeRun(output) : null;
  if (view && name === "web_search") return searchView(view);
  if (view && name === "web_scraper") return pageView(view);
  if (view && name === "code_executor") return codeRunView(view);
  const data = parseJson(output.text);
  return pre(data !== null && typeof data === "object" ? JSON.stringify(data, null, 2) : output.text,
    output.status === "failed" ? "stderr" : undefined);
}

/** What a tool returned, shown as in a step (results, page, program output). */
export function toolResultView(name, text, status = "completed") {
  return resultView(name, { text: str(text), status, metadata: {}, approvalId: null });
}

/** One step: `call` and `output` are stored or streamed items (either may be missing; a
 * call without output is still running, or, when `ended` (a message came after it), never
 * got a result).
 * `approvalView(id)` builds Approve/Reject for a call waiting for approval; null when the
 * reply after it shows them instead. */
export function toolStep(callItem, outputItem, { approvalView = null, ended = false } = {}) {
  const call = callItem ? callOf(callItem) : null;
  const output = outputItem ? outputOf(outputItem) : null;
  const name = call?.name || output?.name || "tool";
  const state = output ? output.status : ended ? "missing" : "running";
  const label = STATE_TEXT[state];
  const args = call ? argsOf(call) : null;
  const input = call ? inputView(call) : null;
  const card = state === "pending_approval" && output.approvalId && approvalView ? approvalView(output.approvalId) : null;
  const step = h("details", {
    class: `tool-step state-${state}`, "data-role": "tool",
    dataset: { id: (callItem || outputItem).id || "", tool: name, state },
  },
  h("summary", {},
    h("span", { class: "tool-name" }, summaryText(name, args)),
    label ? h("span", { class: `tool-state small state-${state}` }, ` · ${label}`) : null),
  input ? h("div", { class: "tool-section" }, h("h4", {}, "Asked"), input) : null,
  output && state === "pending_approval"
    ? h("div", { class: "tool-section" }, h("h4", {}, "Waiting"), h("p", {}, "It runs once you approve it."))
    : null,
  output && state !== "pending_approval" ? h("div", { class: "tool-section" }, h("h4", {}, "Result"), resultView(name, output)) : null,
  card);
  step.open = Boolean(card); // the decision is here: show it (else the reply below has it)
  return step;
}
