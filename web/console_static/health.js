// The pipeline's health (GET /api/health): readiness, Elasticsearch, dead letters, posts/s per
// stage and consumer lag, refreshed every few seconds.
import { getJson } from "./api.js";
import { clear, el } from "./dom.js";
import { formatNumber, formatTime, t } from "./i18n.js";

function readiness(ready) {
  // /readyz's verdict: a boolean, or an object with "ready" and the reasons.
  if (typeof ready === "boolean") return { ok: ready, why: "" };
  if (ready && typeof ready === "object") {
    const ok = Boolean(ready.ready ?? ready.ok);
    const checks = ready.checks && typeof ready.checks === "object" ? ready.checks : {};
    const why = Object.entries(checks)
      .filter(([, verdict]) => verdict !== "ok")
      .map(([name, verdict]) => `${name}: ${verdict}`)
      .join("; ");
    return { ok, why };
  }
  return { ok: false, why: "" };
}

export class Health {
  constructor({ fail }) {
    this.fail = fail;
    this.status = document.getElementById("health-status");
    this.summary = document.getElementById("health-summary");
    this.stages = document.querySelector("#health-stages tbody");
    this.lag = document.querySelector("#health-lag tbody");
    this.data = null;
    this.at = null;
  }

  async load() {
    try {
      this.data = await getJson("/api/health");
      this.at = new Date();
      this.render();
    } catch (error) {
      this.fail(error, this.status);
    }
  }

  render() {
    const data = this.data;
    if (!data) return;
    const { ok, why } = readiness(data.ready);
    const es = (data.elasticsearch && data.elasticsearch.status) || "unreachable";
    // A figure the worker could not have (Kafka down) is null: shown as a dash, not as zero.
    const number = (value, options) => (typeof value === "number" ? formatNumber(value, options) : "–");
    const lag = Array.isArray(data.lag) ? number(data.lag.reduce((sum, row) => sum + (row.lag || 0), 0)) : "–";
    const panel = document.getElementById("health");
    Object.assign(panel.dataset, { ready: String(ok), es, deadLetters: String(data.dead_letters_last_hour ?? 0) });
    this.status.textContent = t("updated", { time: formatTime(this.at, { timeStyle: "medium" }) });
    const fact = (name, value, cls) => [el("dt", { text: name }), el("dd", { class: cls, text: value })];
    clear(this.summary).append(
      ...fact(t("ready"), ok ? t("ready_yes") : `${t("ready_no")}${why ? ` (${why})` : ""}`, ok ? "ok" : "bad"),
      ...fact(t("es_status"), t(`es_${es}`), `es-${es}`),
      ...fact(t("dead_letters"), number(data.dead_letters_last_hour)),
      ...fact(t("total_lag"), lag),
    );
    clear(this.stages);
    for (const row of data.stages || []) {
      this.stages.append(
        el(
          "tr",
          { dataset: { stage: row.stage } },
          el("th", { scope: "row", text: t(`stage_${row.stage}`) }),
          el("td", { text: number(row.posts_per_second, { maximumFractionDigits: 1 }) }),
        ),
      );
    }
    clear(this.lag);
    for (const row of data.lag || []) {
      this.lag.append(
        el(
          "tr",
          {},
          el("th", { scope: "row", text: row.group ? `${row.topic} (${row.group})` : row.topic }),
          el("td", { text: number(row.partition) }),
          el("td", { text: number(row.lag) }),
        ),
      );
    }
  }
}
