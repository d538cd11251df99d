// Volume and sentiment over time (stacked bars), with a table alternative, and small multiples
// per topic and watch term. Data: GET /api/overview?range=1h|24h|7d&<filters>.
import { getJson } from "./api.js";
import { clear, el } from "./dom.js";
import { formatNumber, formatTime, t } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg"; // a namespace name, not something fetched
// Contrast of at least 3:1 against the white background (WCAG 1.4.11, graphical objects).
const COLOURS = { positive: "#1a7f37", neutral: "#6e7781", negative: "#cf222e" };

function seconds(iso) {
  return Date.parse(iso) / 1000;
}

/** A tiny line of ``values`` (decorative: the numbers are in the item's own text). */
function sparkline(values, width = 120, height = 28) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const top = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "currentColor");
  line.setAttribute("stroke-width", "1.5");
  svg.append(line);
  return svg;
}

export class Overview {
  /** ``pick(kind, key)`` narrows the page to a topic or term; ``fail(error)`` reports an API error. */
  constructor({ pick, fail }) {
    this.pick = pick;
    this.fail = fail;
    this.range = "1h";
    this.data = null;
    this.chart = null;
    this.panel = document.getElementById("overview");
    this.status = document.getElementById("overview-status");
    this.summary = document.getElementById("overview-summary");
    this.chartBox = document.getElementById("overview-chart");
    this.tableBody = document.querySelector("#overview-table tbody");
    for (const button of this.panel.querySelectorAll("[data-range]")) {
      button.addEventListener("click", () => this.setRange(button.dataset.range));
    }
    window.addEventListener("resize", () => this.resize());
  }

  setRange(range) {
    this.range = range;
    for (const button of this.panel.querySelectorAll("[data-range]")) {
      button.setAttribute("aria-pressed", String(button.dataset.range === range));
    }
    return this.load(this.filters);
  }

  /** Fetch and draw for ``filters`` (the page's filter form); the answer's keys fill the filter lists. */
  async load(filters = {}) {
    this.filters = filters;
    const asked = { ...filters, range: this.range };
    try {
      const data = await getJson("/api/overview", asked);
      if (JSON.stringify(asked) !== JSON.stringify({ ...this.filters, range: this.range })) return null; // stale
      this.data = data;
      this.status.textContent = "";
      this.render();
      return data;
    } catch (error) {
      this.fail(error, this.status);
      return null;
    }
  }

  render() {
    const data = this.data;
    if (!data) return;
    const buckets = data.buckets || [];
    const sums = { positive: 0, neutral: 0, negative: 0 };
    for (const b of buckets) for (const k of Object.keys(sums)) sums[k] += b[k] || 0;
    Object.assign(this.panel.dataset, {
      range: data.range,
      since: data.since || "",
      until: data.until || "",
      total: String(data.total ?? 0),
      positive: String(sums.positive),
      neutral: String(sums.neutral),
      negative: String(sums.negative),
    });
    this.summary.textContent = t("summary", {
      total: formatNumber(data.total ?? 0),
      since: formatTime(data.since),
      until: formatTime(data.until),
      positive: formatNumber(sums.positive),
      neutral: formatNumber(sums.neutral),
      negative: formatNumber(sums.negative),
    });
    clear(this.tableBody);
    for (const b of buckets) {
      this.tableBody.append(
        el(
          "tr",
          { dataset: { t: b.t, positive: b.positive || 0, neutral: b.neutral || 0, negative: b.negative || 0 } },
          el("th", { scope: "row", text: formatTime(b.t) }),
          el("td", { text: formatNumber(b.positive || 0) }),
          el("td", { text: formatNumber(b.neutral || 0) }),
          el("td", { text: formatNumber(b.negative || 0) }),
        ),
      );
    }
    this.drawChart(buckets);
    this.drawMultiples(document.getElementById("topics-list"), "topic", data.topics || []);
    this.drawMultiples(document.getElementById("terms-list"), "term", data.terms || []);
  }

  drawChart(buckets) {
    const uPlot = window.uPlot;
    if (!uPlot) return; // the table and the summary still tell everything
    const xs = buckets.map((b) => seconds(b.t));
    const neg = buckets.map((b) => b.negative || 0);
    const neuNeg = buckets.map((b, i) => (b.neutral || 0) + neg[i]);
    const all = buckets.map((b, i) => (b.positive || 0) + neuNeg[i]);
    // Stacked by drawing the cumulative sums tallest first: each bar covers the part below it.
    const data = [xs, all, neuNeg, neg];
    if (this.chart && this.chart.series.length === 4) {
      this.chart.setData(data);
      return;
    }
    const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.9, 40] }) : undefined;
    const series = (key) => ({ label: key, stroke: COLOURS[key], fill: COLOURS[key], paths: bars, points: { show: false } });
    clear(this.chartBox);
    this.chart = new uPlot(
      {
        width: Math.max(280, this.chartBox.clientWidth || 600),
        height: 220,
        legend: { show: false }, // the page's own legend names the parts in words
        cursor: { show: false },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
        axes: [
          { values: (u, ticks) => ticks.map((s) => formatTime(new Date(s * 1000), { timeStyle: "short" })) },
          { values: (u, ticks) => ticks.map((v) => formatNumber(v)) },
        ],
        series: [{}, series("positive"), series("neutral"), series("negative")],
      },
      data,
      this.chartBox,
    );
  }

  resize() {
    if (this.chart) this.chart.setSize({ width: Math.max(280, this.chartBox.clientWidth || 600), height: 220 });
  }

  drawMultiples(list, kind, items) {
    clear(list);
    if (!items.length) {
      list.append(el("li", { class: "empty", text: t("none_yet") }));
      return;
    }
    for (const item of items) {
      const words = t("multiple_item", {
        key: item.key,
        count: formatNumber(item.count ?? 0),
        negative: formatNumber(item.negative ?? 0),
      });
      const button = el("button", {
        type: "button",
        class: "pick",
        title: t("multiple_filter", { key: item.key }),
        text: words,
      });
      button.addEventListener("click", () => this.pick(kind, item.key));
      list.append(
        el(
          "li",
          { dataset: { key: item.key, count: item.count ?? 0, negative: item.negative ?? 0 } },
          button,
          sparkline((item.buckets || []).map((b) => b.count || 0)),
        ),
      );
    }
  }
}
