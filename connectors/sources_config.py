"""The sources file (``ascolto connect --config sources.yaml``): several live sources run in one process.

A mapping with one list, ``sources``; each entry has a ``type`` and the options of that source's
``ascolto connect TYPE`` command::

    sources:
      - type: rss
        urls: [https://www.comune.example.it/feed.xml]
        every: 5m
      - type: mastodon
        name: mastodon-social-comune        # optional, unique: the checkpoint's name, in logs too
        instance: https://mastodon.social
        hashtag: comune
        token_env: ASCOLTO_MASTODON_TOKEN   # the variable holding the token, never the token
      - type: bluesky
        keywords: [comune, bolletta]
      - type: reddit
        subreddits: [italy]
      - type: http
        port: 6080

Secrets are never written in the file: a Mastodon token is named by its environment variable
(``token_env``), Reddit's client id and secret come from ASCOLTO_REDDIT_CLIENT_ID/SECRET, the ingest
endpoint's token from ASCOLTO_INGEST_TOKEN/SECRET. Mistakes are told all at once, each as ``file:line``
and field, before anything starts. Example: ``deploy/local/sources.example.yaml``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from connectors.live import LiveSource
from connectors.producer import PostProducer
from core.durations import parse_duration
from core.errors import ConfigError
from core.settings import Settings
from core.yaml_file import ConfigFileError, FileShape, env_var_name, listify, load_model, locate, read_text

TYPES = ("rss", "mastodon", "bluesky", "reddit", "http")
#: Fields that would hold a secret; the file names environment variables instead.
SECRET_FIELDS = frozenset(
    {"token", "access_token", "secret", "client_id", "client_secret", "password", "api_key", "ingest_token"}
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("a source name uses lower-case letters, digits, _ . and - only, like mastodon-social")
    return value


Name = Annotated[str, AfterValidator(_name)]
EnvName = Annotated[str, AfterValidator(env_var_name("token", "ASCOLTO_MASTODON_TOKEN"))]
Words = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(listify)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Entry(BaseModel):
    # Unknown fields are errors: a typo (``hashtg``) must not silently become a default.
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and SECRET_FIELDS & set(data):
            if (info.context or {}).get("secrets_told"):
                # The loader tells each with its line (never its value); the rest of the entry is still checked.
                return {key: value for key, value in data.items() if key not in SECRET_FIELDS}
            raise PydanticCustomError("secret_in_file", "a secret is written in the sources file")
        return data

    @property
    def source_name(self) -> str:
        """The entry's name: its checkpoint file and its label in logs."""
        return self.name or self.default_name()

    def default_name(self) -> str:
        return str(getattr(self, "type", "source"))


class RssEntry(_Entry):
    """``ascolto connect rss``: feeds polled with conditional GETs."""

    type: Literal["rss"]
    urls: Annotated[tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(listify), Field(min_length=1)]
    every: Duration = timedelta(minutes=5)
    once: bool = False


class MastodonEntry(_Entry):
    """``ascolto connect mastodon``: one instance's hashtag or timeline (one entry per instance)."""

    type: Literal["mastodon"]
    instance: str
    hashtag: str | None = None
    timeline: Literal["public", "local"] = "public"
    token_env: EnvName = "ASCOLTO_MASTODON_TOKEN"

    @model_validator(mode="after")
    def _instance_is_an_address(self) -> MastodonEntry:
        self.build_source()  # the source's own checks (an address like https://mastodon.social)
        return self

    def build_source(self) -> Any:
        from connectors.mastodon import MastodonSource

        return MastodonSource(
            self.instance,
            hashtag=self.hashtag,
            timeline=self.timeline,
            token=os.environ.get(self.token_env) or None,
            token_env=self.token_env,
        )

    def default_name(self) -> str:
        return str(self.build_source().checkpoint_name)  # as `ascolto connect mastodon` names it


class BlueskyEntry(_Entry):
    """``ascolto connect bluesky``: Jetstream, filtered by keywords and authors."""

    type: Literal["bluesky"]
    keywords: Words = ()
    handles: Words = ()
    dids: Words = ()
    url: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    resolver: str = "https://public.api.bsky.app"


class RedditEntry(_Entry):
    """``ascolto connect reddit``: subreddits' new posts and comments (credentials from the settings)."""

    type: Literal["reddit"]
    subreddits: Annotated[
        tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(listify), Field(min_length=1)
    ]
    kinds: Annotated[tuple[Literal["posts", "comments"], ...], BeforeValidator(listify), Field(min_length=1)] = (
        "posts",
        "comments",
    )
    every: Duration = timedelta(seconds=30)
    base_url: str = "https://oauth.reddit.com"
    auth_url: str = "https://www.reddit.com/api/v1/access_token"

    @model_validator(mode="after")
    def _source_accepts_it(self) -> RedditEntry:
        self.default_name()  # the source's own checks (subreddit names, kinds)
        return self

    def default_name(self) -> str:
        try:
            from connectors.reddit import RedditSource  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return "reddit"
        # Only to read the checkpoint name `ascolto connect reddit` uses; the credentials are never used here.
        probe = RedditSource(
            list(self.subreddits), client_id="-", client_secret="-", user_agent="-", kinds=tuple(self.kinds)
        )
        return str(probe.checkpoint_name)


class HttpEntry(_Entry):
    """``ascolto connect http``: the push endpoint ``POST /ingest`` (token/secret from the settings)."""

    type: Literal["http"]
    port: int = Field(6080, ge=1, le=65535)
    bind: str = "127.0.0.1"
    source: Annotated[str, AfterValidator(_name)] = "http"


Entry = Annotated[RssEntry | MastodonEntry | BlueskyEntry | RedditEntry | HttpEntry, Field(discriminator="type")]


class SourcesConfig(BaseModel):
    """Every source of one file, names unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Not min_length: pydantic would add "at least 1 item" to every file whose entries have a mistake.
    sources: tuple[Entry, ...]

    @model_validator(mode="after")
    def _unique_names(self) -> SourcesConfig:
        if not self.sources:
            raise ValueError("list at least one source (see deploy/local/sources.example.yaml)")
        names = [entry.source_name for entry in self.sources]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise PydanticCustomError("duplicate_source_name", "source names must be unique: {names}", {"names": twice})
        return self


def _default_name(entry: object) -> str | None:
    """The name an entry without ``name:`` gets (None when the entry is too broken to tell)."""
    if not isinstance(entry, dict) or entry.get("type") not in TYPES:
        return None
    models: dict[str, type[_Entry]] = {
        "rss": RssEntry,
        "mastodon": MastodonEntry,
        "bluesky": BlueskyEntry,
        "reddit": RedditEntry,
        "http": HttpEntry,
    }
    model = models[entry["type"]]
    try:
        return model.model_validate(entry).source_name
    except (ValueError, TypeError):
        return None


def _check(root: yaml.Node, data: dict[str, Any], source: str) -> list[str]:
    """Secrets written in the file, and names the entries get by default that clash."""
    entries = data.get("sources")
    if not isinstance(entries, list):
        return []
    problems: list[str] = []
    first: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        for key in sorted(SECRET_FIELDS & set(entry)):
            line, _ = locate(root, ("sources", index, key))
            problems.append(
                f"{source}:{line}: sources[{index}]: field `{key}` holds a secret, which never goes in the file; "
                "put it in an environment variable (the Mastodon token: name it with `token_env`; Reddit: "
                "ASCOLTO_REDDIT_CLIENT_ID and ASCOLTO_REDDIT_CLIENT_SECRET; ingest: ASCOLTO_INGEST_TOKEN)."
            )
        explicit = entry.get("name")
        name = explicit if isinstance(explicit, str) else _default_name(entry)
        if name is None:
            continue
        line, _ = locate(root, ("sources", index))
        if name in first and not (isinstance(explicit, str) and explicit in _explicit_before(entries, index)):
            problems.append(
                f"{source}:{line}: sources[{index}]: this {entry.get('type')} source would be named {name} like "
                f"the source at line {first[name]}; give each a `name:` of its own (it names its checkpoint)."
            )
        first.setdefault(name, line)
    return problems


def _explicit_before(entries: list[Any], index: int) -> set[str]:
    # Two explicit equal names are told by the generic duplicate-name check.
    return {e["name"] for e in entries[:index] if isinstance(e, dict) and isinstance(e.get("name"), str)}


_SHAPE = FileShape(
    list_key="sources",
    noun="source",
    tag="type",
    tags=TYPES,
    models_by_name={
        "rss": RssEntry,
        "mastodon": MastodonEntry,
        "bluesky": BlueskyEntry,
        "reddit": RedditEntry,
        "http": HttpEntry,
    },
    not_a_mapping=(
        "the file must be a mapping with a list `sources:` of at least one source "
        "(see deploy/local/sources.example.yaml)."
    ),
    suggest_tag=True,
    skip_error_types=frozenset({"duplicate_source_name"}),  # told with their lines instead
)


class SourcesFileError(ConfigFileError):
    """The sources file cannot be used; ``problems`` holds one sentence per mistake, each starting file:line."""


def parse_sources(text: str, source: str = "<sources>") -> SourcesConfig:
    """Check the text of a sources file; ``source`` names it in errors."""
    return load_model(
        text, SourcesConfig, _SHAPE, source=source, error=SourcesFileError, check=_check, context={"secrets_told": True}
    )


def load_sources(path: Path | str) -> SourcesConfig:
    """Read and check the sources file at ``path``; raises :class:`SourcesFileError` naming file:line and field."""
    text = read_text(
        path,
        error=SourcesFileError,
        cannot_read=lambda reason: f"Cannot read the sources file {path} ({reason}); check the path given to --config.",
    )
    return parse_sources(text, source=str(path))


# --- building ------------------------------------------------------------------------------------
Server = Callable[[PostProducer, asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Plan:
    """What a sources file runs: live sources by name, and servers (the ingest endpoint) by name."""

    sources: Mapping[str, LiveSource]
    servers: Mapping[str, Server]
    descriptions: Mapping[str, str]  # name -> one line saying what it listens to


def build(config: SourcesConfig, settings: Settings, *, on_ready: Callable[[str], None] | None = None) -> Plan:
    """The sources and servers of ``config``; raises :class:`ConfigError` for what only the environment can tell
    (a Reddit entry without ASCOLTO_REDDIT_CLIENT_ID, an ingest endpoint without a token or secret)."""
    sources: dict[str, LiveSource] = {}
    servers: dict[str, Server] = {}
    described: dict[str, str] = {}
    for entry in config.sources:
        name = entry.source_name
        if isinstance(entry, RssEntry):
            from connectors.rss import RssSource, public_url

            sources[name] = RssSource(list(entry.urls), every=entry.every.total_seconds(), once=entry.once)
            described[name] = f"rss: {len(entry.urls)} feeds ({', '.join(public_url(u) for u in entry.urls[:3])}"
            described[name] += ", ...)" if len(entry.urls) > 3 else ")"
        elif isinstance(entry, MastodonEntry):
            mastodon = entry.build_source()
            sources[name] = mastodon
            what = f"#{entry.hashtag}" if entry.hashtag else f"{entry.timeline} timeline"
            described[name] = f"mastodon: {what} on {mastodon.host} (token: ${entry.token_env})"
        elif isinstance(entry, BlueskyEntry):
            from connectors.bluesky import BlueskySource

            sources[name] = BlueskySource(
                url=entry.url, keywords=entry.keywords, handles=entry.handles, dids=entry.dids, resolver=entry.resolver
            )
            filters = [*entry.keywords, *(f"@{h}" for h in entry.handles), *entry.dids]
            described[name] = f"bluesky: {entry.url}" + (f" ({', '.join(filters)})" if filters else " (every post)")
        elif isinstance(entry, RedditEntry):
            sources[name] = _reddit(entry, settings)
            described[name] = f"reddit: r/{'+'.join(entry.subreddits)} ({', '.join(entry.kinds)})"
        else:
            servers[name] = _ingest_server(entry, settings, on_ready)
            described[name] = f"http: POST http://{entry.bind}:{entry.port}/ingest (source {entry.source})"
    return Plan(sources, servers, described)


def _reddit(entry: RedditEntry, settings: Settings) -> LiveSource:
    try:
        from connectors.reddit import RedditSource  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ConfigError(
            "This ascolto has no Reddit source yet; remove the reddit entry from the sources file."
        ) from None
    client_id = _plain(getattr(settings, "reddit_client_id", None))
    client_secret = _plain(getattr(settings, "reddit_client_secret", None))
    user_agent = _plain(getattr(settings, "reddit_user_agent", None))
    if not (client_id and client_secret and user_agent):
        raise ConfigError(
            "The reddit source needs ASCOLTO_REDDIT_CLIENT_ID, ASCOLTO_REDDIT_CLIENT_SECRET and "
            "ASCOLTO_REDDIT_USER_AGENT in the environment (a Reddit app's credentials); set them or remove the entry."
        )
    source: LiveSource = RedditSource(
        list(entry.subreddits),
        client_id=client_id,
        client_secret=client_secret,
        user_agent=user_agent,
        kinds=tuple(entry.kinds),
        every=entry.every.total_seconds(),
        base_url=entry.base_url,
        auth_url=entry.auth_url,
    )
    return source


def _plain(value: object) -> str | None:
    secret = getattr(value, "get_secret_value", None)
    text = secret() if callable(secret) else value
    return str(text) if text else None


def _ingest_server(entry: HttpEntry, settings: Settings, on_ready: Callable[[str], None] | None) -> Server:
    from connectors.http_ingest import IngestEndpoint, serve

    if settings.ingest_token is None and settings.ingest_secret is None:
        raise ConfigError(
            "The http source needs a way to authenticate senders: set ASCOLTO_INGEST_TOKEN (a bearer token) "
            "or ASCOLTO_INGEST_SECRET (an HMAC signing secret), or both."
        )

    async def run(producer: PostProducer, stop: asyncio.Event) -> None:
        endpoint = IngestEndpoint(settings, producer, default_source=entry.source)
        await serve(endpoint, host=entry.bind, port=entry.port, stop=stop, on_ready=on_ready)

    return run
