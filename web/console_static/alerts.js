// Active and recent alerts (GET /api/alerts); each opens the posts behind it (GET /api/search
// with the alert's posts_query), listed under the alerts.
import { getJson } from "./api.js";
import { clear, el } from "./dom.js";
import { formatTime, t } from "./i18n.js";
import { postItem } from "./posts.js";

export class Alerts {
  constructor({ open, fail }) {
    this.open = open;
    this.fail = fail;
    this.status = document.getElementById("alerts-status");
    this.active = document.getElementById("alerts-active");
    this.recent = document.getElementById("alerts-recent");
    this.postsBox = document.getElementById("alert-posts");
    this.data = null;
  }

  async load() {
    try {
      this.data = await getJson("/api/alerts", { limit: 50 });
      this.render();
    } catch (error) {
      this.fail(error, this.status);
    }
  }

  render() {
    const data = this.data;
    if (!data) return;
    const panel = document.getElementById("alerts");
    panel.dataset.enabled = String(Boolean(data.enabled));
    this.status.textContent = data.enabled ? "" : t("alerts_disabled");
    this.fill(this.active, data.enabled ? data.active || [] : null);
    this.fill(this.recent, data.enabled ? data.recent || [] : null);
  }

  fill(list, alerts) {
    clear(list);
    if (alerts === null) return;
    if (!alerts.length) {
      list.append(el("li", { class: "empty", text: t("alerts_none") }));
      return;
    }
    for (const alert of alerts) list.append(this.item(alert));
  }

  item(alert) {
    const severity = ["info", "warning", "critical"].includes(alert.severity) ? alert.severity : "info";
    const status = alert.status === "resolved" ? "resolved" : "firing";
    const words = alert.summary || `${alert.kind || alert.metric || ""} ${alert.key}`.trim();
    const button = el("button", { type: "button", text: t("alert_show_posts") });
    button.addEventListener("click", () => this.showPosts(alert));
    return el(
      "li",
      { class: `alert severity-${severity}`, dataset: { id: alert.id, status } },
      el(
        "p",
        { class: "alert-head" },
        el("strong", { class: "severity", text: t(`severity_${severity}`) }),
        ` · ${t(`status_${status}`)} · `,
        el("time", { datetime: alert.window_start, text: formatTime(alert.window_start) }),
        " – ",
        el("time", { datetime: alert.window_end, text: formatTime(alert.window_end) }),
      ),
      el("p", { class: "alert-text", text: words }),
      button,
    );
  }

  async showPosts(alert) {
    const title = document.getElementById("alert-posts-title");
    const status = document.getElementById("alert-posts-status");
    const list = document.getElementById("alert-posts-list");
    this.postsBox.hidden = false;
    title.textContent = t("alert_posts_title", { key: alert.key });
    status.textContent = t("loading");
    clear(list);
    title.focus();
    try {
      const result = await getJson("/api/search", { ...(alert.posts_query || {}), size: 50 });
      status.textContent = t("alert_posts_count", { n: result.total ?? 0 });
      for (const post of result.posts || []) list.append(postItem(post, this.open));
    } catch (error) {
      this.fail(error, status);
    }
  }
}
