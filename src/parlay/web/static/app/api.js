// Parlay's public API from the browser: the signed-in session, silent token refresh,
// the error envelope, and Server-Sent Events.

const STORE_KEY = "parlay.session";
const REFRESH_MARGIN_MS = 60_000; // refresh an access token this long before it expires

export class ApiError extends Error {
  constructor(status, error = {}) {
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || "http_error";
    this.param = error.param || null;
    this.requestId = error.request_id || null;
  }
}

let session = readStoredSession();
let refreshing = null;
const signOutListeners = new Set();

function readStoredSession() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || "null");
  } catch {
    return null;
  }
}

function store(value) {
  session = value;
  if (value) localStorage.setItem(STORE_KEY, JSON.stringify(value));
  else localStorage.removeItem(STORE_KEY);
}

// Another tab signed in, out, or refreshed: follow it.
window.addEventListener("storage", (event) => {
  if (event.key !== STORE_KEY) return;
  const had = session;
  session = readStoredSession();
  if (had && !session) signOutListeners.forEach((listener) => listener("elsewhere"));
});

export function currentSession() {
  return session;
}

export function onSignOut(listener) {
  signOutListeners.add(listener);
}

/** Keep the tokens of a token object (guest-login, login, register, refresh, upgrade). */
export function useTokens(tokens) {
  store({
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    expires_at: Date.now() + tokens.expires_in * 1000,
    user_id: tokens.user_id,
    role: tokens.role,
  });
}

export function useApiKey(key) {
  store({ api_key: key });
}

export function forgetSession(reason = "signed_out") {
  const had = session;
  store(null);
  if (had) signOutListeners.forEach((listener) => listener(reason));
}

async function parseError(response) {
  try {
    const body = await response.json();
    return new ApiError(response.status, body.error || {});
  } catch {
    return new ApiError(response.status, { message: response.statusText });
  }
}

/** One refresh at a time across tabs: a spent refresh token presented twice revokes the
 * whole login (theft detection), so tabs take a Web Lock and reuse a newer stored pair. */
function refreshTokens() {
  refreshing ??= lockAnd(refreshOnce).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function lockAnd(work) {
  return navigator.locks ? navigator.locks.request("parlay.refresh", work) : work();
}

async function refreshOnce() {
  const stale = session;
  const latest = readStoredSession();
  if (!latest || latest.api_key) {
    session = latest;
    return;
  }
  if (latest.refresh_token !== stale?.refresh_token && latest.expires_at > Date.now() + REFRESH_MARGIN_MS) {
    session = latest; // another tab refreshed already
    return;
  }
  const response = await fetch("/llm/auth/refresh-token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: latest.refresh_token }),
  });
  if (!response.ok) {
    const error = await parseError(response);
    if (response.status === 401 || response.status === 403) forgetSession("expired");
    throw error;
  }
  useTokens(await response.json());
}

async function bearer() {
  if (!session) throw new ApiError(401, { code: "missing_credentials", message: "not signed in" });
  if (session.api_key) return session.api_key;
  if (Date.now() > session.expires_at - REFRESH_MARGIN_MS) await refreshTokens();
  if (!session) throw new ApiError(401, { code: "missing_credentials", message: "signed out" });
  return session.access_token;
}

/** fetch() with the session's bearer; refreshes once and retries on an expired token.
 * Returns the Response when `raw` (streams), else the parsed JSON (null for 204). */
export async function api(method, path, { body, signal, raw = false, auth = true } = {}) {
  const send = async () => {
    const headers = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (auth) headers.authorization = `Bearer ${await bearer()}`;
    return fetch(path, {
      method,
      headers,
      signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  };
  let response = await send();
  if (response.status === 401 && auth && session && !session.api_key) {
    await refreshTokens();
    response = await send();
  }
  if (response.status === 401 && auth) forgetSession("expired");
  if (!response.ok) throw await parseError(response);
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** The `data:` payloads of a text/event-stream response, as they arrive. */
export async function* serverEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replaceAll("\r\n", "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (data) yield data;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** Read a streamed reply (chat.completion.chunk events): `onText(delta)` per piece of text,
 * `onItem(item)` per tool call or result Parlay ran (a chunk's `parlay_item`).
 * Resolves {outcome: "completed", stopped} after [DONE] (`stopped`: the chunk's
 * `parlay_stopped`, e.g. "pending_approval"), or {outcome: "failed", error} when the
 * stream reported an error or ended without [DONE] (the server keeps it as incomplete). */
export async function readReplyStream(response, onText, onItem = () => {}) {
  let stopped = null;
  for await (const data of serverEvents(response)) {
    if (data === "[DONE]") return { outcome: "completed", stopped };
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      continue;
    }
    if (event.error) return { outcome: "failed", error: event.error };
    if (event.parlay_item) onItem(event.parlay_item);
    if (event.parlay_stopped) stopped = event.parlay_stopped;
    const delta = event.choices?.[0]?.delta?.content;
    if (typeof delta === "string" && delta) onText(delta);
  }
  return { outcome: "failed", error: { message: "the reply stream ended early" } };
}

// -- accounts -------------------------------------------------------------------------------

export async function signInAsGuest() {
  useTokens(await api("POST", "/llm/auth/guest-login", { auth: false }));
}

export async function signIn(email, password) {
  useTokens(await api("POST", "/llm/auth/login", { auth: false, body: { email, password } }));
}

export async function register(email, password, displayName) {
  const body = { email, password };
  if (displayName) body.display_name = displayName;
  useTokens(await api("POST", "/llm/auth/register", { auth: false, body }));
}

export async function signInWithKey(key) {
  useApiKey(key);
  try {
    return (await api("GET", "/llm/auth/me")).data;
  } catch (error) {
    store(null);
    throw error;
  }
}

export async function upgradeGuest(email, password) {
  useTokens(await api("POST", "/llm/auth/upgrade", { body: { email, password } }));
}

/** Ends this browser's login only (other devices stay signed in). */
export async function signOut() {
  const current = session;
  if (current?.refresh_token) {
    try {
      await fetch("/llm/auth/revoke", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: current.refresh_token }),
      });
    } catch {
      /* offline: the tokens are forgotten here all the same */
    }
  }
  forgetSession("signed_out");
}
