// A reply streaming into the chat, whatever asked for it: a message sent (POST .../items) or
// a reply answered again (POST .../items/{id}/regenerate: Regenerate, Retry, Continue, an
// edited message resent). Its tokens and tool steps show as they arrive and Stop aborts the
// request (the server keeps what arrived as `incomplete`); once it ended, the chat shows what
// the server stored.

import { api, readReplyStream } from "./api.js";
import { announce, toast } from "./dom.js";
import { renderInto } from "./markdown.js";
import { addStreamedItem, streamingElements } from "./messages.js";

/** Stream a reply into `view` (a ChatView): POST `body` with `stream: true` to `path` under
 * the open conversation. `userText`: the message being sent, shown above the reply until it
 * is stored; `replaces`: the id of the reply whose place the stream takes meanwhile (else it
 * goes last). `onRefused(error)`: the request failed before the stream opened. */
export async function streamReply(view, { path, body, userText = null, replaces = null, onRefused }) {
  const conversationId = view.conversation.id;
  const stream = streamingElements(userText, view.model);
  const controller = new AbortController();
  Object.assign(stream, { controller, replaces });
  view.streaming = stream;
  view.failure = null;
  view.render();
  view.scrollToEnd(!replaces);
  view.setBusy(true);
  let outcome = "completed";
  try {
    const response = await api("POST", `/v1/conversations/${conversationId}${path}`, {
      raw: true, signal: controller.signal, body: { ...body, stream: true },
    });
    stream.replyId = response.headers.get("x-parlay-reply-id");
    const ended = await readReplyStream(response, (delta) => {
      stream.text += delta;
      paint(view, stream);
    }, (item) => {
      addStreamedItem(stream, item);
      view.scrollToEnd();
    });
    outcome = ended.outcome;
    if (ended.error) view.failure = { message: ended.error.message };
  } catch (error) {
    outcome = controller.signal.aborted ? "stopped" : "failed";
    if (!controller.signal.aborted) onRefused(error);
  } finally {
    cancelAnimationFrame(stream.frame);
    view.streaming = null;
    view.setBusy(false);
  }
  if (view.conversation?.id === conversationId) await settle(view, conversationId, stream, outcome);
}

/** Re-render the streaming reply at most once per frame. */
function paint(view, stream) {
  if (stream.frame) return;
  stream.frame = requestAnimationFrame(() => {
    stream.frame = 0;
    renderInto(stream.body, stream.text, { highlightCode: false });
    view.scrollToEnd();
  });
}

/** After a stream: wait until the server finalised the reply (a stopped one is stored once
 * the server noticed the client left), then show what is stored. */
async function settle(view, conversationId, { replyId, replaces }, outcome) {
  if (replyId) {
    for (let attempt = 0; attempt < 40; attempt += 1) {
      try {
        const item = (await api("GET", `/v1/conversations/${conversationId}/items/${replyId}`)).data;
        if (item.status !== "in_progress") break;
      } catch {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50 + attempt * 10));
    }
  }
  if (view.conversation?.id !== conversationId) return; // the user moved on meanwhile
  try {
    await view.reload();
  } catch (error) {
    toast(`The chat could not be reloaded: ${error.message}`, "error");
  }
  view.scrollToEnd(!replaces); // a reply answered again in place stays in view
  view.app.approvals?.refresh();
  announce(outcome === "completed" ? "Reply finished" : outcome === "stopped" ? "Reply stopped" : "The reply failed");
}
