"""The one typed settings object of ascolto, read from ``ASCOLTO_*`` environment variables.

Every field documents its variable: ``kafka_brokers`` is ``ASCOLTO_KAFKA_BROKERS`` and so on.
Defaults fit the local embedded stack started by ``ascolto stack up``.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError


def _default_home() -> Path:
    # Per user, never relative to the code: an installed ascolto must not write under site-packages.
    return Path(user_data_dir("ascolto"))


class Settings(BaseSettings):
    """Runtime configuration for connectors, the worker, the CLI and the local stack."""

    model_config = SettingsConfigDict(env_prefix="ASCOLTO_", extra="ignore", frozen=True)

    # --- Where state lives -------------------------------------------------------------------
    home: Path = Field(
        default_factory=_default_home,
        description="Root of ascolto's state (worker data, local stack); default: the per-user data directory.",
    )

    # --- Kafka ---------------------------------------------------------------------------
    kafka_brokers: str = Field("", description="Comma-separated host:port list; defaults to the local stack.")
    topic_prefix: str = Field("ascolto.", description="Prefix of every topic (posts.raw, posts.enriched, ...).")
    topic_partitions: int = Field(
        12,
        ge=1,
        description=(
            "Partitions for topics ascolto creates: the most worker processes (on all machines) that share the work; "
            "12 splits evenly over 1, 2, 3, 4, 6 or 12 processes."
        ),
    )
    topic_replication: int = Field(1, ge=1, description="Replication factor for topics ascolto creates.")
    kafka_compression: str = Field("lz4", pattern="^(none|gzip|lz4|zstd|snappy)$")
    max_message_bytes: int = Field(
        16 * 1024 * 1024, description="Largest Kafka message ascolto produces or accepts (dead letters included)."
    )
    dlq_retention_days: float = Field(
        14.0, ge=0, description="Days dead letters stay in posts.dlq before Kafka deletes them (0: no time limit)."
    )
    dlq_retention_bytes: int = Field(
        1024**3, ge=0, description="Bytes of dead letters kept per posts.dlq partition, oldest dropped (0: no limit)."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How every Kafka client connects: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism for the SASL_* protocols: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_username: str | None = Field(None, description="SASL user name (SASL_* protocols).")
    kafka_password: SecretStr | None = Field(None, description="SASL password (SASL_* protocols); never logged.")
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CA(s) that signed the brokers' certificates; default: the system's CAs."
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate for mutual TLS (may also hold the key)."
    )
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of the client certificate.")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of an encrypted client key; never logged."
    )
    kafka_ssl_check_hostname: bool = Field(
        True, description="Check that a broker's certificate names the host connected to (SSL, SASL_SSL)."
    )

    # --- Elasticsearch -------------------------------------------------------------------
    es_url: str = Field("", description="Elasticsearch URL; defaults to the local stack.")
    es_index: str = Field(
        "ascolto-posts",
        description="Alias of the posts indices (searches use it); backing indices are <alias>-000001...",
    )
    es_alerts_index: str = Field("ascolto-alerts", description="Index for alerts (template pattern <name>*).")
    es_shards: int = Field(1, ge=1, description="Primary shards per posts backing index.")
    es_replicas: int = Field(0, ge=0, description="Replicas per posts backing index (0 on a single node).")
    es_refresh_interval: str = Field("1s", description="How soon indexed posts become searchable.")
    es_rollover_max_age: str = Field("7d", description="Roll the write index over when it is this old.")
    es_rollover_max_size: str = Field("25gb", description="... or when its primary shard reaches this size.")
    es_rollover_max_docs: int | None = Field(None, ge=1, description="... or when it holds this many posts.")
    es_retention_days: float = Field(90.0, ge=0, description="Delete posts older than this (0 keeps everything).")
    es_lifecycle_seconds: float = Field(300.0, gt=0, description="How often the worker checks rollover and retention.")
    es_ilm: bool = Field(False, description="Let Elasticsearch ILM do rollover and retention (full clusters only).")
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_api_key: SecretStr | None = None
    es_ca_certs: Path | None = None
    es_request_timeout: float = Field(30.0, gt=0)

    # --- Kibana (only for `ascolto kibana import`) --------------------------------------------
    kibana_api_key: SecretStr | None = None
    kibana_username: str | None = None
    kibana_password: SecretStr | None = None

    # --- Worker --------------------------------------------------------------------------
    app_id: str = Field("ascolto", description="Faust application id, also the Kafka consumer group.")
    enrichers: str = Field(
        "language,sentiment,topics,entities,duplicates",
        description="Comma-separated enricher names (registered, entry point or module:attr), run in declared order.",
    )
    languages: str = Field(
        "it,en,es,fr,de,pt,nl,ro,pl,sq,ar,zh,ru,uk,el,hr,sl,tr,hi,bn,ur,tl",
        description="Candidate languages for detection (ISO 639-1); anything else is reported as the closest of these.",
    )
    language_threshold: float = Field(0.5, ge=0, le=1, description="Below this probability a post's lang is und.")
    trust_lang_hint: bool = Field(True, description="Use a source's lang_hint unless the text clearly disagrees.")
    sentiment_model: str = Field(
        "",
        description="Trained sentiment model files (`ascolto train`), comma-separated, at most one per language; "
        "each decides its language's posts, the rules score the rest.",
    )
    taxonomy: Path | None = Field(None, description="Topic taxonomy YAML; default: the one shipped with ascolto.")
    watch_terms: Path | None = Field(None, description="YAML of watch terms (brands, agencies) and their aliases.")
    neutral_phrases: Path | None = Field(
        None, description="YAML list of names whose words carry no sentiment (Banca Aurora, Bella Italia)."
    )
    alert_rules: Path | None = Field(
        None, description="YAML of alert rules (streams/alerting/rule_examples); default: none, no alerts fire."
    )
    reload_seconds: float = Field(
        5.0, gt=0, description="How often taxonomy, watch-term and alert rule files are checked for changes."
    )
    alert_lateness_seconds: float = Field(
        60.0,
        ge=0,
        le=86400,
        description="How long after its end a detector window still takes late posts (event time) before it is "
        "evaluated and closed.",
    )
    alert_notify_within_seconds: float = Field(
        3600.0,
        ge=0,
        description="An alert about a window that ended longer ago than this is indexed but notifies no one (a new "
        "detector reading history, a replay); 0: no limit.",
    )
    alert_tick_seconds: float = Field(
        1.0, gt=0, le=60, description="How often the detector closes due windows of keys that had no posts."
    )
    public_url: str | None = Field(
        None,
        description="Base URL of the worker's API as alert readers reach it (the ready search in alerts); "
        "default: http://127.0.0.1:<web port>.",
    )
    # --- Alert delivery (streams/alerting: notifier, outbox, e-mail) -----------------------
    alert_retry_for_seconds: float = Field(
        86400.0, gt=0, description="How long a failing alert delivery is retried before it goes to the dead letters."
    )
    alert_retry_initial_seconds: float = Field(
        5.0, gt=0, description="Wait before the first retry of a failed alert delivery; doubles on each failure."
    )
    alert_retry_max_seconds: float = Field(
        300.0, gt=0, description="Longest wait between retries of an alert delivery."
    )
    smtp_host: str = Field("localhost", description="SMTP server that sends alert e-mails.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port: 587 for starttls, 465 for tls, 25 for none.")
    # starttls by default: alerts and the login never cross the network in clear unless someone says so.
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="SMTP transport security: starttls (upgrade), tls (implicit, port 465) or none."
    )
    smtp_ca_file: Path | None = Field(
        None, description="PEM of the CA that signed the SMTP server's certificate; default: the system's CAs."
    )
    smtp_username: str | None = Field(None, description="SMTP login user; none: no login.")
    smtp_password: SecretStr | None = Field(None, description="SMTP login password; never logged.")
    smtp_from: str = Field("ascolto@localhost", description="Sender address of alert e-mails.")
    smtp_timeout_seconds: float = Field(30.0, gt=0, le=600, description="Longest wait for the SMTP server per e-mail.")
    # --- HTTP ingest (ascolto connect http) ---------------------------------------------------
    ingest_token: SecretStr | None = Field(
        None, description="Bearer token POST /ingest accepts (Authorization: Bearer ...); never logged."
    )
    ingest_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 secret of signed POST /ingest requests (X-Ascolto-Signature); never logged."
    )
    ingest_max_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest POST /ingest body; a larger one is answered 413."
    )
    ingest_ack_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="Longest POST /ingest waits for Kafka's acknowledgement before answering 503."
    )
    # --- Reddit (ascolto connect reddit) --------------------------------------------------------
    reddit_client_id: str | None = Field(None, description="Client id of the Reddit app (www.reddit.com/prefs/apps).")
    reddit_client_secret: SecretStr | None = Field(None, description="Secret of the Reddit app; never logged.")
    reddit_user_agent: str = Field(
        "python:ascolto:0.1.0 (self-hosted social listening)",
        description="User-Agent sent to Reddit; set your own, like 'linux:myapp:1.0 (by /u/yourname)'.",
    )
    max_future_seconds: float = Field(
        86400.0, ge=0, description="Posts dated further ahead of the worker's clock go to the dead-letter topic."
    )
    oldest_post_date: date = Field(
        date(1990, 1, 1), description="Posts dated before this day (UTC) go to the dead-letter topic."
    )
    enrich_batch_size: int = Field(
        1000, ge=1, le=100_000, description="Posts the enrich agent takes, enriches and publishes at once, at most."
    )
    enrich_batch_seconds: float = Field(
        0.2, gt=0, le=60, description="Longest wait for more posts before a partial enrich batch is processed."
    )
    index_batch_size: int = Field(4000, ge=1, description="Posts per indexing batch at most.")
    index_batch_seconds: float = Field(1.0, gt=0, description="Longest wait before a partial batch is indexed.")
    index_batch_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest bulk request body.")
    index_parallel: int = Field(2, ge=1, le=16, description="Bulk requests of one batch sent at once.")
    index_retry_max_seconds: float = Field(30.0, gt=0, description="Cap of the back-off between bulk retries.")
    worker_processes: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "Worker processes `ascolto worker` runs on this machine, in one consumer group; process i (from 0) "
            "uses ASCOLTO_WEB_PORT+i and ASCOLTO_METRICS_PORT+i."
        ),
    )
    kafka_session_timeout_seconds: float = Field(
        10.0,
        ge=6,
        le=300,
        description=(
            "How long Kafka waits for a silent worker before its partitions go to the others (or to it, restarted); "
            "heartbeats go every third of it, 3 s at most."
        ),
    )
    web_port: int = Field(6066, ge=0, le=65535, description="Faust web port of the worker (0 disables).")
    web_bind: str = Field(
        "127.0.0.1",
        description="Address the worker's HTTP API listens on; any non-loopback one requires ASCOLTO_API_TOKEN.",
    )
    api_token: SecretStr | None = Field(
        None, description="Token the worker's HTTP API requires when not bound to loopback (Bearer); never logged."
    )
    api_max_concurrent_searches: int = Field(
        4, ge=1, le=1000, description="Searches and stats the worker's HTTP API runs at once; more get 503 at once."
    )
    api_search_timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="Longest a search or stats request (API or CLI) runs before it is stopped."
    )
    api_max_query_terms: int = Field(32, ge=1, le=1024, description="Most terms a search query (q) may have.")
    console_feed_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="How often each console live feed asks Elasticsearch for newly indexed posts."
    )
    console_feed_settle_seconds: float = Field(
        3.0, ge=0, le=300, description="Age a post's indexed_at must reach before the live feed sends it (final order)."
    )
    console_max_feed_clients: int = Field(
        20, ge=1, le=1000, description="Console live feeds one worker process serves at once; more get 503."
    )
    console_health_cache_seconds: float = Field(
        5.0, ge=0, le=300, description="How long the console's pipeline health figures are reused."
    )
    metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus /metrics port (0 disables).")
    metrics_bind: str = Field(
        "127.0.0.1", description="Address the /metrics endpoint listens on (0.0.0.0 for remote scrapes)."
    )
    metrics_max_topics: int = Field(
        100, ge=1, description="Taxonomy topics with their own sentiment series in /metrics; later ones count as other."
    )
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    log_repeat_seconds: float = Field(
        30.0, ge=0, description="A Kafka client or Faust log line that repeats shows at most once per this (0: all)."
    )
    data_dir: Path = Field(
        default_factory=lambda data: data["home"] / "data", description="Worker state (Faust data dir); <home>/data."
    )

    # --- Local embedded stack (ascolto stack up) -------------------------------------------
    stack_dir: Path = Field(
        default_factory=lambda data: data["home"] / "stack",
        description="Where the local servers, their data and logs live; <home>/stack.",
    )
    stack_kafka_version: str = "3.9.1"
    stack_kafka_port: int = Field(9092, ge=1, le=65535)
    stack_kafka_controller_port: int = Field(9093, ge=1, le=65535)
    stack_kafka_sasl_ssl_port: int = Field(
        9094, ge=1, le=65535, description="The local Kafka's SASL_SSL listener (SCRAM-SHA-512 or PLAIN over TLS)."
    )
    stack_kafka_heap: str = Field("512m", pattern=r"^\d+[mg]$")
    stack_es_version: str = "8.19.7"
    stack_es_port: int = Field(9200, ge=1, le=65535)
    stack_es_transport_port: int = Field(9300, ge=1, le=65535)
    stack_es_heap: str = Field("1g", pattern=r"^\d+[mg]$")
    stack_es_user: str = Field(
        "ascolto", description="Unprivileged user that runs Elasticsearch when ascolto runs as root."
    )
    stack_prometheus_port: int = Field(
        9090, ge=1, le=65535, description="Port of the local Prometheus (`ascolto stack up --with-prometheus`)."
    )
    stack_timeout: float = Field(180.0, gt=0, description="Seconds to wait for a server to become ready.")

    @field_validator("home", "data_dir", "stack_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # Resolved once, so that every process (and the pid files they share) agrees on one path.
        return path.expanduser().resolve()

    @field_validator(
        "kafka_sasl_mechanism", "kafka_username", "kafka_password", "kafka_ssl_cafile", "kafka_ssl_certfile",
        "kafka_ssl_keyfile", "kafka_ssl_key_password", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `export ASCOLTO_KAFKA_SASL_MECHANISM=` means "none", as it did before these were validated.
        return None if value == "" else value

    @field_validator("kafka_brokers")
    @classmethod
    def _no_credentials_in_brokers(cls, value: str) -> str:
        # ConfigError, not ValueError: pydantic would quote the value, credentials included.
        if "@" in value:
            raise ConfigError(
                "ASCOLTO_KAFKA_BROKERS holds credentials (something@ before a host): list only host:port there "
                "and put the user name in ASCOLTO_KAFKA_USERNAME, the password in ASCOLTO_KAFKA_PASSWORD "
                "(with ASCOLTO_KAFKA_SECURITY_PROTOCOL and ASCOLTO_KAFKA_SASL_MECHANISM)."
            )
        return value

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        # Kafka's names are upper case; accept `scram-sha-512` as providers' docs sometimes write it.
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _derive_endpoints(self) -> Settings:
        # frozen model: fill derived defaults through object.__setattr__ once, at validation.
        if not self.kafka_brokers:
            object.__setattr__(self, "kafka_brokers", f"127.0.0.1:{self.stack_kafka_port}")
        if not self.es_url:
            object.__setattr__(self, "es_url", f"http://127.0.0.1:{self.stack_es_port}")
        return self

    @property
    def kafka_heartbeat_seconds(self) -> float:
        """How often a worker's consumers tell Kafka they are alive: a third of the session, 3 s at most."""
        return min(3.0, self.kafka_session_timeout_seconds / 3)

    @property
    def broker_list(self) -> list[str]:
        return [b.strip() for b in self.kafka_brokers.split(",") if b.strip()]

    @property
    def kafka_brokers_safe(self) -> str:
        """``kafka_brokers`` for messages and logs: anything before an ``@`` (credentials) is masked."""
        return re.sub(r"[^,/]+@", "***@", self.kafka_brokers)

    @property
    def language_list(self) -> list[str]:
        return [code.strip() for code in self.languages.split(",") if code.strip()]

    @property
    def enricher_names(self) -> list[str]:
        return [n.strip() for n in self.enrichers.split(",") if n.strip()]

    @property
    def sentiment_model_paths(self) -> list[Path]:
        return [Path(p.strip()).expanduser() for p in self.sentiment_model.split(",") if p.strip()]

    @property
    def es_url_safe(self) -> str:
        """``es_url`` for messages and logs: credentials in the URL are masked."""
        return re.sub(r"//[^/@]+@", "//***@", self.es_url)

    @property
    def api_url(self) -> str:
        """Where alert readers reach the worker's API: ASCOLTO_PUBLIC_URL, else the local web port."""
        return (self.public_url or f"http://127.0.0.1:{self.web_port}").rstrip("/")

    def topic(self, name: str) -> str:
        """Full topic name for a logical topic such as ``posts.raw``."""
        return f"{self.topic_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, validated once; bad values raise one clear ConfigError."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"Invalid configuration: ASCOLTO_{field.upper()} {first['msg'].lower()}; fix that environment variable."
        ) from None
