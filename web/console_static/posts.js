// One post in a list (the live feed, the posts behind an alert): the feed's summaries and
// /api/search's whole posts both fit.
import { el, sentimentBadge } from "./dom.js";
import { formatNumber, formatTime, t } from "./i18n.js";

export function authorOf(post) {
  const author = post.author && typeof post.author === "object" ? post.author : {};
  return { handle: post.handle ?? author.handle ?? "", name: post.author_name ?? author.name ?? "" };
}

/** An <li> for ``post``; ``open(id, opener)`` shows its detail (click on the item, or its Details button). */
export function postItem(post, open) {
  const sentiment = post.sentiment || {};
  const label = sentiment.label || "neutral";
  const { handle, name } = authorOf(post);
  const button = el("button", { type: "button", class: "post-open", text: t("details") });
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    open(post.id, button);
  });
  const item = el(
    "li",
    { class: "post", dataset: { id: post.id, sentiment: label, lang: post.lang || "", source: post.source || "" } },
    el(
      "p",
      { class: "post-meta" },
      sentimentBadge(label, t(label)),
      " ",
      el("span", { class: "author", text: name ? `${name} (@${handle})` : `@${handle}` }),
      " · ",
      el("time", { datetime: post.created_at, text: formatTime(post.created_at) }),
      " · ",
      el("span", { class: "source", text: post.source || "" }),
      post.lang ? ` · ${post.lang}` : "",
      typeof sentiment.compound === "number"
        ? ` · ${formatNumber(sentiment.compound, { maximumFractionDigits: 2, signDisplay: "exceptZero" })}`
        : "",
    ),
    el("p", { class: "post-text", text: post.text || "" }),
    (post.topics || []).length
      ? el("ul", { class: "tags" }, post.topics.map((topic) => el("li", { text: topic })))
      : null,
    button,
  );
  item.addEventListener("click", (event) => {
    if (!event.target.closest("a, button")) open(post.id, button);
  });
  return item;
}
