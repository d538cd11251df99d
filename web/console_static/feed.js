// The live feed: Server-Sent Events from GET /api/feed?<filters>. The browser reconnects by
// itself after a drop and sends Last-Event-ID, so the server resumes where it stopped.
import { ApiError, query } from "./api.js";
import { t } from "./i18n.js";
import { postItem } from "./posts.js";

/** Posts kept on the page: older ones leave the DOM (they stay searchable). */
export const MAX_POSTS = 200;
/** At most one "N new posts" announcement per this many milliseconds (a polite live region, used sparingly). */
const ANNOUNCE_EVERY_MS = 10000;
/** Wait before opening the stream again after the server refused it (busy, Elasticsearch down). */
const RETRY_MS = 5000;

export class Feed {
  constructor({ open, fail }) {
    this.open = open;
    this.fail = fail;
    this.list = document.getElementById("feed-list");
    this.status = document.getElementById("feed-status");
    this.announcer = document.getElementById("feed-announce");
    this.source = null;
    this.unannounced = 0;
    this.announceTimer = null;
    this.retryTimer = null;
    this.generation = 0;
    this.statusKey = "";
  }

  /** The status line by its i18n key, so a language switch can say it again. */
  say(key) {
    this.statusKey = key;
    this.status.textContent = t(key);
  }

  relabel() {
    if (this.statusKey) this.status.textContent = t(this.statusKey);
  }

  /** (Re)connect with ``filters``: the list starts again with the server's latest matching posts. */
  connect(filters = {}) {
    this.close();
    this.filters = filters;
    const generation = ++this.generation;
    this.list.replaceChildren();
    this.list.setAttribute("aria-busy", "true");
    this.say("feed_connecting");
    const url = "/api/feed" + query(filters);
    const source = new EventSource(url, { withCredentials: true });
    this.source = source;
    source.addEventListener("open", () => {
      if (generation !== this.generation) return;
      this.say("feed_live");
      this.list.removeAttribute("aria-busy");
    });
    source.addEventListener("post", (event) => {
      if (generation !== this.generation) return;
      let post;
      try {
        post = JSON.parse(event.data);
      } catch {
        return; // not a post; the stream goes on
      }
      this.add(post);
    });
    source.addEventListener("error", () => {
      if (generation !== this.generation) return;
      if (source.readyState === EventSource.CONNECTING) {
        this.say("feed_reconnecting");
      } else {
        // Closed: the server answered with an error instead of a stream. Ask again to read its sentence.
        this.explainRefusal(url, generation);
      }
    });
  }

  async explainRefusal(url, generation) {
    const aborter = new AbortController();
    try {
      const response = await fetch(url, { credentials: "same-origin", signal: aborter.signal });
      const type = response.headers.get("Content-Type") || "";
      if (response.ok && type.startsWith("text/event-stream")) {
        aborter.abort(); // it would work now: let the EventSource take it
        this.retryLater(generation);
        return;
      }
      let sentence = `HTTP ${response.status}`;
      try {
        const body = await response.json();
        if (body && typeof body.error === "string") sentence = body.error;
      } catch {
        // keep the status line
      }
      if (generation !== this.generation) return;
      this.statusKey = "";
      this.fail(new ApiError(response.status, sentence), this.status);
      if (response.status !== 400 && response.status !== 401) this.retryLater(generation);
    } catch {
      if (generation !== this.generation) return;
      this.statusKey = "";
      this.fail(new ApiError(0, ""), this.status);
      this.retryLater(generation);
    }
  }

  retryLater(generation) {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (generation === this.generation) this.connect(this.filters);
    }, RETRY_MS);
  }

  add(post) {
    const old = post.id ? this.list.querySelector(`li[data-id="${CSS.escape(post.id)}"]`) : null;
    if (old) old.remove(); // at-least-once delivery: one line per post
    const item = postItem(post, this.open);
    item.classList.add("new");
    this.list.prepend(item);
    while (this.list.children.length > MAX_POSTS) this.list.lastElementChild.remove();
    this.unannounced += 1;
    if (!this.announceTimer) {
      this.announceTimer = setTimeout(() => this.announce(), ANNOUNCE_EVERY_MS);
    }
  }

  announce() {
    this.announceTimer = null;
    if (!this.unannounced) return;
    this.announcer.textContent = t("feed_new", { n: this.unannounced });
    this.unannounced = 0;
  }

  close() {
    clearTimeout(this.retryTimer);
    if (this.source) this.source.close();
    this.source = null;
  }
}
