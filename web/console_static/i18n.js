// The console's words in Italian and English, and the chosen language.
// Static text carries data-i18n="key" (its textContent) in index.html; code calls t(key, vars).

const STORAGE_KEY = "ascolto.console.lang";

export const STRINGS = {
  en: {
    title: "ascolto console",
    skip: "Skip to content",
    language_switch: "Interface language",
    nav: "Sections",
    filters_title: "Filters",
    filter_q: "Search",
    filter_q_help: "Same language as ascolto search, e.g. bolletta AND NOT rimborso",
    filter_sentiment: "Sentiment",
    filter_topic: "Topic",
    filter_term: "Watch term",
    filter_lang: "Language",
    filter_source: "Source",
    any: "any",
    apply: "Apply",
    clear: "Clear",
    positive: "positive",
    neutral: "neutral",
    negative: "negative",
    overview_title: "Volume and sentiment",
    range: "Time range",
    range_1h: "Last hour",
    range_24h: "Last day",
    range_7d: "Last week",
    show_table: "Show the chart as a table",
    table_caption: "Posts per interval by sentiment",
    col_time: "Time",
    summary: "{total} posts from {since} to {until}: {positive} positive, {neutral} neutral, {negative} negative.",
    topics_title: "Topics",
    terms_title: "Watch terms",
    multiple_item: "{key}: {count} posts, {negative} negative",
    multiple_filter: "Show only {key}",
    none_yet: "Nothing in this range yet.",
    feed_title: "Live feed",
    feed_connecting: "Connecting to the live feed…",
    feed_live: "Live: new posts appear at the top.",
    feed_reconnecting: "The live feed dropped; reconnecting (no post is lost)…",
    feed_new: { one: "1 new post", other: "{n} new posts" },
    details: "Details",
    alerts_title: "Alerts",
    alerts_active: "Active",
    alerts_recent: "Recent",
    alerts_disabled: "Alerts are not configured: no alert rules are set for this pipeline.",
    alerts_none: "None.",
    alert_show_posts: "Show the posts behind it",
    alert_posts_title: "Posts behind the alert {key}",
    alert_posts_count: { one: "1 post.", other: "{n} posts." },
    severity_info: "info",
    severity_warning: "warning",
    severity_critical: "critical",
    status_firing: "firing",
    status_resolved: "resolved",
    health_title: "Pipeline health",
    ready: "Ready",
    ready_yes: "yes",
    ready_no: "no",
    es_status: "Elasticsearch",
    es_green: "green (all good)",
    es_yellow: "yellow (degraded)",
    es_red: "red (failing)",
    es_unreachable: "unreachable",
    dead_letters: "Dead letters in the last hour",
    total_lag: "Total consumer lag",
    stages_caption: "Throughput per stage",
    lag_caption: "Consumer lag",
    col_stage: "Stage",
    col_rate: "Posts/s",
    col_topic: "Topic",
    col_partition: "Partition",
    col_lag: "Lag",
    stage_connectors: "connectors",
    stage_enrich: "enrich",
    stage_index: "index",
    updated: "Updated {time}.",
    detail_title: "Post",
    close: "Close",
    d_author: "Author",
    d_created: "Written",
    d_indexed: "Indexed",
    d_source: "Source",
    d_link: "Original",
    d_open_original: "Open the original (new tab)",
    d_lang: "Language",
    d_sentiment: "Sentiment",
    d_compound: "score {compound}, decided by {model}",
    d_because: "Because of",
    d_topics: "Topics",
    d_hashtags: "Hashtags",
    d_mentions: "Mentions",
    d_urls: "Links in the text",
    d_emoji: "Emoji",
    d_watch_terms: "Watch terms",
    none: "none",
    loading: "Loading…",
    error_token:
      "This console needs the worker's API token: open it as /console/?token=<ASCOLTO_API_TOKEN> (the browser then keeps it in a cookie).",
    error_network: "The worker does not answer; is `ascolto worker` running? Retrying.",
    error_api: "The worker answered: {error}",
  },
  it: {
    title: "console di ascolto",
    skip: "Vai al contenuto",
    language_switch: "Lingua dell'interfaccia",
    nav: "Sezioni",
    filters_title: "Filtri",
    filter_q: "Cerca",
    filter_q_help: "Stesso linguaggio di ascolto search, ad es. bolletta AND NOT rimborso",
    filter_sentiment: "Sentiment",
    filter_topic: "Argomento",
    filter_term: "Termine monitorato",
    filter_lang: "Lingua",
    filter_source: "Fonte",
    any: "tutti",
    apply: "Applica",
    clear: "Azzera",
    positive: "positivo",
    neutral: "neutro",
    negative: "negativo",
    overview_title: "Volume e sentiment",
    range: "Periodo",
    range_1h: "Ultima ora",
    range_24h: "Ultimo giorno",
    range_7d: "Ultima settimana",
    show_table: "Mostra il grafico come tabella",
    table_caption: "Post per intervallo e sentiment",
    col_time: "Ora",
    summary: "{total} post da {since} a {until}: {positive} positivi, {neutral} neutri, {negative} negativi.",
    topics_title: "Argomenti",
    terms_title: "Termini monitorati",
    multiple_item: "{key}: {count} post, {negative} negativi",
    multiple_filter: "Mostra solo {key}",
    none_yet: "Ancora nulla in questo periodo.",
    feed_title: "Flusso in diretta",
    feed_connecting: "Connessione al flusso in diretta…",
    feed_live: "In diretta: i nuovi post compaiono in alto.",
    feed_reconnecting: "Il flusso si è interrotto; riconnessione in corso (nessun post va perso)…",
    feed_new: { one: "1 nuovo post", other: "{n} nuovi post" },
    details: "Dettagli",
    alerts_title: "Allerte",
    alerts_active: "Attive",
    alerts_recent: "Recenti",
    alerts_disabled: "Le allerte non sono configurate: per questa pipeline non c'è alcuna regola di allerta.",
    alerts_none: "Nessuna.",
    alert_show_posts: "Mostra i post che l'hanno causata",
    alert_posts_title: "Post dietro l'allerta {key}",
    alert_posts_count: { one: "1 post.", other: "{n} post." },
    severity_info: "informativa",
    severity_warning: "avviso",
    severity_critical: "critica",
    status_firing: "in corso",
    status_resolved: "rientrata",
    health_title: "Stato della pipeline",
    ready: "Pronta",
    ready_yes: "sì",
    ready_no: "no",
    es_status: "Elasticsearch",
    es_green: "verde (tutto bene)",
    es_yellow: "giallo (degradato)",
    es_red: "rosso (in errore)",
    es_unreachable: "irraggiungibile",
    dead_letters: "Messaggi scartati nell'ultima ora",
    total_lag: "Ritardo totale dei consumatori",
    stages_caption: "Post al secondo per fase",
    lag_caption: "Ritardo dei consumatori",
    col_stage: "Fase",
    col_rate: "Post/s",
    col_topic: "Topic",
    col_partition: "Partizione",
    col_lag: "Ritardo",
    stage_connectors: "connettori",
    stage_enrich: "arricchimento",
    stage_index: "indicizzazione",
    updated: "Aggiornato alle {time}.",
    detail_title: "Post",
    close: "Chiudi",
    d_author: "Autore",
    d_created: "Scritto",
    d_indexed: "Indicizzato",
    d_source: "Fonte",
    d_link: "Originale",
    d_open_original: "Apri l'originale (nuova scheda)",
    d_lang: "Lingua",
    d_sentiment: "Sentiment",
    d_compound: "punteggio {compound}, deciso da {model}",
    d_because: "Per via di",
    d_topics: "Argomenti",
    d_hashtags: "Hashtag",
    d_mentions: "Menzioni",
    d_urls: "Link nel testo",
    d_emoji: "Emoji",
    d_watch_terms: "Termini monitorati",
    none: "nessuno",
    loading: "Caricamento…",
    error_token:
      "Questa console richiede il token dell'API del worker: aprila come /console/?token=<ASCOLTO_API_TOKEN> (il browser lo conserva poi in un cookie).",
    error_network: "Il worker non risponde; `ascolto worker` è in esecuzione? Nuovo tentativo in corso.",
    error_api: "Il worker ha risposto: {error}",
  },
};

export const LANGUAGES = Object.keys(STRINGS);
let current = "en";

/** The language to start with: the one chosen before, else the browser's (it* → Italian), else English. */
export function initialLanguage() {
  let saved = null;
  try {
    saved = window.localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage can be off (private mode, policy): the browser's language still applies.
  }
  if (saved && LANGUAGES.includes(saved)) return saved;
  const preferred = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return preferred.some((tag) => String(tag || "").toLowerCase().startsWith("it")) ? "it" : "en";
}

export function language() {
  return current;
}

/** Switch the language: <html lang>, every data-i18n text, remembered for the next visit. */
export function setLanguage(lang, root = document) {
  current = LANGUAGES.includes(lang) ? lang : "en";
  document.documentElement.lang = current;
  try {
    window.localStorage.setItem(STORAGE_KEY, current);
  } catch {
    // Not remembered; nothing else depends on it.
  }
  for (const node of root.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
}

/** The text of ``key`` in the current language, with {name} replaced from ``vars`` (and plurals by vars.n). */
export function t(key, vars = {}) {
  let text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  if (typeof text === "object") {
    const form = new Intl.PluralRules(current).select(vars.n ?? 0);
    text = text[form] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(current, options).format(value);
}

export function formatTime(iso, options = { dateStyle: "short", timeStyle: "medium" }) {
  const date = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? "") : new Intl.DateTimeFormat(current, options).format(date);
}
