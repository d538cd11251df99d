// A post's detail in a modal <dialog> (GET /api/posts/<id>): focus stays inside while it is
// open, Esc closes it, and focus goes back to what opened it.
import { getJson } from "./api.js";
import { clear, el, safeHttpUrl, sentimentBadge } from "./dom.js";
import { formatNumber, formatTime, t } from "./i18n.js";
import { authorOf } from "./posts.js";

export class Detail {
  constructor({ fail }) {
    this.fail = fail;
    this.dialog = document.getElementById("detail");
    this.body = document.getElementById("detail-body");
    this.status = document.getElementById("detail-status");
    this.opener = null;
    this.post = null;
    document.getElementById("detail-close").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => {
      if (this.opener && this.opener.isConnected) this.opener.focus();
      this.opener = null;
    });
    // A click on the backdrop (outside the dialog's box) closes it too.
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.dialog.close();
    });
  }

  async show(id, opener) {
    this.opener = opener || document.activeElement;
    this.post = null;
    clear(this.body);
    this.status.textContent = t("loading");
    if (!this.dialog.open) this.dialog.showModal();
    document.getElementById("detail-close").focus();
    try {
      this.post = await getJson(`/api/posts/${encodeURIComponent(id)}`);
      this.status.textContent = "";
      this.render();
    } catch (error) {
      this.fail(error, this.status);
    }
  }

  render() {
    const post = this.post;
    if (!post) return;
    const { handle, name } = authorOf(post);
    const sentiment = post.sentiment || {};
    const entities = post.entities || {};
    const url = safeHttpUrl(post.url);
    const list = (items) =>
      items && items.length ? el("ul", { class: "tags" }, items.map((x) => el("li", { text: x }))) : t("none");
    const row = (key, ...value) => [el("dt", { text: t(key) }), el("dd", {}, ...value)];
    this.dialog.dataset.id = post.id;
    clear(this.body).append(
      el("p", { class: "detail-text", id: "detail-text", text: post.text || "" }),
      el(
        "dl",
        { class: "facts" },
        ...row("d_author", name ? `${name} (@${handle})` : `@${handle}`),
        ...row("d_source", post.source || ""),
        ...row("d_created", el("time", { datetime: post.created_at, text: formatTime(post.created_at) })),
        ...(post.indexed_at
          ? row("d_indexed", el("time", { datetime: post.indexed_at, text: formatTime(post.indexed_at) }))
          : []),
        ...row(
          "d_link",
          url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: t("d_open_original") }) : t("none"),
        ),
        ...row("d_lang", post.lang || ""),
        ...row(
          "d_sentiment",
          sentimentBadge(sentiment.label || "neutral", t(sentiment.label || "neutral")),
          " ",
          t("d_compound", {
            compound: formatNumber(sentiment.compound ?? 0, { maximumFractionDigits: 3, signDisplay: "exceptZero" }),
            model: sentiment.model || "?",
          }),
        ),
        ...(Array.isArray(sentiment.because) && sentiment.because.length ? row("d_because", list(sentiment.because)) : []),
        ...row("d_topics", list(post.topics)),
        ...row("d_hashtags", list(entities.hashtags)),
        ...row("d_mentions", list(entities.mentions)),
        ...row("d_urls", list(entities.urls)),
        ...row("d_emoji", list(entities.emoji)),
        ...row("d_watch_terms", list(entities.watch_terms)),
      ),
    );
  }
}
