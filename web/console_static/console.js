// The ascolto console: wires the panels to the filter form, the language switch and the timers.
import { Alerts } from "./alerts.js";
import { Detail } from "./detail.js";
import { Feed } from "./feed.js";
import { Health } from "./health.js";
import { initialLanguage, setLanguage, t } from "./i18n.js";
import { Overview } from "./overview.js";

const FILTER_NAMES = ["q", "sentiment", "topic", "term", "lang", "source"];
const OVERVIEW_EVERY_MS = 15000;
const HEALTH_EVERY_MS = 5000;
const ALERTS_EVERY_MS = 15000;

const form = document.getElementById("filters");
const banner = document.getElementById("banner");
let needsToken = false;

/** Say what went wrong where it happened; a missing token stops the page's requests and says how to open it. */
function fail(error, statusNode) {
  if (error && error.name === "AbortError") return;
  if (error && error.status === 401) {
    needsToken = true;
    feed.close();
    banner.textContent = t("error_token");
    banner.hidden = false;
    return;
  }
  const text = !error || !error.status ? t("error_network") : t("error_api", { error: error.message });
  if (statusNode) statusNode.textContent = text;
}

function currentFilters() {
  const data = new FormData(form);
  const filters = {};
  for (const name of FILTER_NAMES) {
    const value = String(data.get(name) || "").trim();
    if (value) filters[name] = value;
  }
  return filters;
}

/** Offer every key the overview reported in its select, keeping the chosen one. */
function offer(selectId, items) {
  const select = document.getElementById(selectId);
  const known = new Set([...select.options].map((o) => o.value));
  for (const item of items || []) {
    if (item && item.key && !known.has(item.key)) {
      const option = document.createElement("option");
      option.value = item.key;
      option.textContent = item.key;
      select.append(option);
      known.add(item.key);
    }
  }
}

const detail = new Detail({ fail });
const open = (id, opener) => detail.show(id, opener);
const feed = new Feed({ open, fail });
const alerts = new Alerts({ open, fail });
const health = new Health({ fail });
const overview = new Overview({
  fail,
  pick(kind, key) {
    const select = document.getElementById(kind === "term" ? "f-term" : "f-topic");
    offer(select.id, [{ key }]);
    select.value = key;
    apply();
  },
});

async function refreshOverview() {
  const data = await overview.load(currentFilters());
  if (data) {
    offer("f-topic", data.topics);
    offer("f-term", data.terms);
    offer("f-lang", data.languages);
    offer("f-source", data.sources);
  }
}

function apply() {
  if (needsToken) return;
  document.body.dataset.filters = JSON.stringify(currentFilters());
  feed.connect(currentFilters());
  refreshOverview();
}

function every(ms, task) {
  setInterval(() => {
    if (!needsToken && !document.hidden) task();
  }, ms);
}

function switchLanguage(lang) {
  setLanguage(lang);
  for (const button of document.querySelectorAll(".lang-switch button[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
  }
  if (needsToken) banner.textContent = t("error_token");
  // Text built from data follows the language at once, without asking the worker again.
  overview.render();
  alerts.render();
  health.render();
  detail.render();
  feed.relabel();
  for (const button of document.querySelectorAll(".posts .post-open")) button.textContent = t("details");
  for (const badge of document.querySelectorAll(".posts .badge[data-sentiment]")) {
    badge.lastElementChild.textContent = t(badge.dataset.sentiment);
  }
}

// The token, if the page was opened with ?token=, is now in an HttpOnly cookie: keep it out of
// the address bar and the history.
const address = new URL(window.location.href);
if (address.searchParams.has("token")) {
  address.searchParams.delete("token");
  window.history.replaceState(null, "", address.pathname + address.search + address.hash);
}

for (const button of document.querySelectorAll(".lang-switch button[data-lang]")) {
  button.addEventListener("click", () => switchLanguage(button.dataset.lang));
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  apply();
});
form.addEventListener("reset", () => setTimeout(apply)); // after the browser has cleared the fields
for (const select of form.querySelectorAll("select")) select.addEventListener("change", apply);

switchLanguage(initialLanguage());
apply();
alerts.load();
health.load();
every(OVERVIEW_EVERY_MS, refreshOverview);
every(HEALTH_EVERY_MS, () => health.load());
every(ALERTS_EVERY_MS, () => alerts.load());
