// The public share page: the server sends every message as escaped text (readable without
// scripts); this renders the replies' Markdown exactly as the app does (same parser, same
// sanitiser) and, when the owner allowed it, a feedback form.

import { renderInto } from "../app/markdown.js";

for (const content of document.querySelectorAll('article[data-role="assistant"] .content')) {
  const rendered = document.createElement("div");
  rendered.className = "content markdown";
  renderInto(rendered, content.textContent);
  content.replaceWith(rendered);
}

function feedbackForm(token) {
  const section = document.createElement("section");
  section.className = "feedback";
  section.setAttribute("aria-labelledby", "feedback-title");
  const title = document.createElement("h2");
  title.id = "feedback-title";
  title.textContent = "Leave feedback";
  const form = document.createElement("form");
  const ratingLabel = document.createElement("label");
  ratingLabel.htmlFor = "feedback-rating";
  ratingLabel.textContent = "Rating";
  const rating = document.createElement("select");
  rating.id = "feedback-rating";
  for (const [value, label] of [["", "No rating"], ["5", "5 – great"], ["4", "4"], ["3", "3"], ["2", "2"], ["1", "1 – poor"]]) {
    rating.append(new Option(label, value));
  }
  const commentLabel = document.createElement("label");
  commentLabel.htmlFor = "feedback-comment";
  commentLabel.textContent = "Comment";
  const comment = document.createElement("textarea");
  comment.id = "feedback-comment";
  comment.rows = 3;
  comment.maxLength = 2000;
  const button = document.createElement("button");
  button.type = "submit";
  button.textContent = "Send feedback";
  const status = document.createElement("p");
  status.setAttribute("role", "status");
  form.append(ratingLabel, rating, commentLabel, comment, button, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    if (rating.value) body.rating = Number(rating.value);
    if (comment.value.trim()) body.comment = comment.value.trim();
    if (!("rating" in body || "comment" in body)) {
      status.textContent = "Choose a rating or write a comment.";
      return;
    }
    button.disabled = true;
    const response = await fetch(`/v1/public/shares/${encodeURIComponent(token)}/feedback`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).catch(() => null);
    if (response?.ok) {
      form.replaceChildren(status);
      status.textContent = "Thank you for your feedback.";
    } else {
      button.disabled = false;
      const error = response ? (await response.json().catch(() => ({}))).error : null;
      status.textContent = error?.message || "Feedback could not be sent.";
    }
  });
  section.append(title, form);
  return section;
}

const main = document.querySelector("main");
const token = location.pathname.split("/").pop();
if (main?.dataset.allowFeedback === "true" && token) {
  main.querySelector("footer")?.before(feedbackForm(token));
}
