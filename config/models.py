"""The config file's schema as pydantic models: every key is typed, unknown keys are errors."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema

from newswatch.config.private import mask_url
from newswatch.config.units import format_duration, parse_duration, parse_size
from newswatch.rules.query import QueryError, parse_syntax, parse_term

NAME_PATTERN = r"^[a-z0-9_-]+$"
# the slowest an adaptive schedule polls a source unless it says (`every_max:`)
DEFAULT_EVERY_MAX = timedelta(hours=6)


def _duration(value: object) -> timedelta:
    return parse_duration(value)


def _optional_window(value: object) -> timedelta | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    return parse_duration(value)


def _regex(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("a regex must be a string")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"bad regex {value!r}: {exc}") from exc
    return value


def _http_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("a URL must be a string")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value.strip()


# what the YAML holds, for `newswatch schema` (the models hold timedeltas and ints)
_DURATION_SCHEMA = {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*$",
                    "description": "a number and a unit: 30s, 15m, 1h, 3d, 2w, 250ms"}
Duration = Annotated[timedelta, BeforeValidator(_duration), WithJsonSchema(_DURATION_SCHEMA)]
Window = Annotated[timedelta | None, BeforeValidator(_optional_window), WithJsonSchema(
    {"anyOf": [_DURATION_SCHEMA, {"const": "none"}, {"type": "null"}]})]
Regex = Annotated[str, BeforeValidator(_regex)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
_SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*(B|kB|KB|KiB|MB|MiB|GB|GiB)?\s*$"
Size = Annotated[int, BeforeValidator(parse_size), WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": _SIZE_PATTERN}],
     "description": "bytes, or a number and a unit: 500kB, 5MB, 2MiB"})]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=64)]
Email = Annotated[str, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")]
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def apprise_target(url: str) -> Any:
    """apprise's notifier for a channel URL, or None if it knows no such channel; the
    `${NAME}` parts stand for a token of letters and digits (they are read from the
    environment only when sending). Quietly: apprise's own complaint would be a second,
    less clear, report of what the caller says."""
    import logging

    import apprise

    quiet = logging.getLogger("apprise")
    was, quiet.disabled = quiet.disabled, True
    try:
        return apprise.Apprise.instantiate(ENV_REF.sub("x0TOKEN0x", url))
    finally:
        quiet.disabled = was


def _channel(value: object) -> object:
    """An apprise URL (slack://..., json://..., ntfy://...); `${NAME}` parts come from
    the environment when it is used, so tokens need not sit in the YAML."""
    if not isinstance(value, str) or "://" not in value:
        raise ValueError(f"{value!r} is not a channel URL (scheme://..., as apprise "
                         "takes them: slack://, msteams://, tgram://, discord://, "
                         "matrix://, ntfy://, json://...)")
    if len(value) > 320:  # the outbox keeps it as the recipient (secrets as ${NAME})
        raise ValueError(f"a channel URL of {len(value)} characters: at most 320; put "
                         "long tokens in the environment as ${NAME}")
    if apprise_target(value) is None:
        raise ValueError(f"{value!r}: apprise knows no "
                         "such channel (see its list of supported services)")
    return value


Channel = Annotated[str, BeforeValidator(_channel)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve_path(value: str, info: ValidationInfo) -> str:
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return str(path.resolve())


class CrawlOptions(Strict):
    """Crawl settings: the `crawl:` defaults, which any source may override."""

    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
    obey_robots: bool = True
    max_age: Window = timedelta(days=3)
    concurrency_per_domain: int = Field(2, ge=1, le=32)
    download_delay: Duration = timedelta(seconds=0.5)
    allow_private: bool | list[Network] = False
    timeout: Duration = timedelta(seconds=30)
    max_page_size: Size = 5 * 1024 * 1024
    max_redirects: int = Field(5, ge=0, le=20)
    extract_timeout: Duration = timedelta(seconds=20)
    # check HTTPS certificates (expired, another host's, an unknown issuer: the fetch
    # fails with that reason); off only for a site one knows and cannot fix
    verify_tls: bool = True

    @field_validator("allow_private", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [ipaddress.ip_network(str(v), strict=False) for v in value]
        return value


_CRAWL_KEYS = tuple(CrawlOptions.model_fields)


def _domain(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9.-]+\.[a-z0-9-]+", value.strip()
                                                       .lower()):
        raise ValueError(f"not a domain name: {value!r} (write example.com, no scheme)")
    return value.strip().lower()


class Follow(Strict):
    allow: list[Regex] = []
    deny: list[Regex] = []
    depth: int = Field(1, ge=1, le=5)
    # more registered domains that followed links may go to, besides the source's own
    domains: list[Annotated[str, BeforeValidator(_domain)]] = []


def _crawl_defaults_elsewhere(schema: dict[str, Any]) -> None:
    """A source's crawl options default to the `crawl:` section's, not to CrawlOptions'
    own defaults: the schema says so instead of showing those."""
    for key in _CRAWL_KEYS:
        prop = schema.get("properties", {}).get(key)
        if prop is not None:
            prop.pop("default", None)
            prop["description"] = "default: the crawl: section's"


class Source(CrawlOptions):
    """One news site: where to find its articles and how often to look. It may set any
    crawl option (CrawlOptions' fields and checks, inherited): only those written in
    the YAML override the `crawl:` defaults, so the options in force are `crawl()`'s,
    never this object's own attributes."""

    model_config = ConfigDict(json_schema_extra=_crawl_defaults_elsewhere)

    name: Name
    feeds: list[HttpUrl] = []
    sitemaps: list[HttpUrl] = []
    pages: list[HttpUrl] = []
    site: HttpUrl | None = None
    follow: Follow = Follow()
    every: Duration | None = None
    # the slowest an adaptive schedule polls it (default 6h; equal to `every`: fixed)
    every_max: Duration | None = None
    cron: str | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"bad cron expression {value!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _check(self) -> Source:
        if not (self.feeds or self.sitemaps or self.pages or self.site):
            raise ValueError("a source needs at least one of feeds, sitemaps, pages or site")
        if self.every is not None and self.cron is not None:
            raise ValueError("give either every or cron, not both")
        if self.every is not None and self.every.total_seconds() < 1:
            raise ValueError("every must be at least 1s")
        if self.every_max is not None:
            if self.cron is not None:
                raise ValueError("every_max goes with every, not with cron")
            if self.every_max < self.interval:
                raise ValueError(f"every_max ({format_duration(self.every_max)}) is shorter "
                                 f"than every ({format_duration(self.interval)})")
        return self

    def crawl(self, defaults: CrawlOptions) -> CrawlOptions:
        """The crawl options in force for this source: its overrides over the defaults."""
        overrides = {k: getattr(self, k) for k in _CRAWL_KEYS if k in self.model_fields_set}
        return defaults.model_copy(update=overrides)

    @property
    def interval(self) -> timedelta:
        return self.every if self.every is not None else timedelta(hours=1)

    @property
    def slowest(self) -> timedelta:
        """The longest an adaptive schedule waits between polls (never below `every`)."""
        if self.every_max is not None:
            return self.every_max
        return max(DEFAULT_EVERY_MAX, self.interval)

    @property
    def adaptive(self) -> bool:
        return self.cron is None and self.slowest > self.interval

    @property
    def schedule(self) -> str:
        """When it is polled, in the config's words: `every 15m` or `cron */15 * * * *`."""
        if self.cron:
            return f"cron {self.cron}"
        if self.adaptive:
            return (f"every {format_duration(self.interval)} to "
                    f"{format_duration(self.slowest)}, as it publishes")
        return f"every {format_duration(self.interval)}"

    def start_urls(self) -> list[str]:
        return [*self.feeds, *self.sitemaps, *self.pages, *([self.site] if self.site else [])]


_DIGEST = re.compile(r"^(immediate|hourly|daily|weekly|daily@([01]\d|2[0-3]):[0-5]\d)$")


def _digest(value: object) -> str:
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise ValueError(
            f"bad digest {value!r}: use immediate, hourly, daily, daily@HH:MM or weekly"
        )
    return value


Digest = Annotated[str, BeforeValidator(_digest)]


def _parses(parse: Callable[[str], object], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            parse(value)
        except QueryError as exc:
            raise ValueError(f"bad {what}: {exc}") from None
        return value
    return check


# the syntax only: @names are checked against `terms:` by the loader, which sees both
Query = Annotated[str, Field(min_length=1), AfterValidator(_parses(parse_syntax, "query"))]
TermEntry = Annotated[str, Field(min_length=1), AfterValidator(_parses(parse_term, "term"))]


class Watch(Strict):
    """A named query; its matches are alerted to `to` and `notify` (default: alerts.to
    and alerts.notify); `enabled: false` mutes it."""

    name: Name
    query: Query
    to: list[Email] | None = None
    notify: list[Channel] | None = None
    digest: Digest = "immediate"
    enabled: bool = True


class Smtp(Strict):
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    timeout: Duration = timedelta(seconds=30)

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _resolve_path(value, info)


class Alerts(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str = Field("newswatch <newswatch@localhost>", alias="from")
    to: list[Email] = []
    notify: list[Channel] = []
    ops: list[Email] | None = None
    smtp: Smtp | None = None
    maildir: str | None = None
    templates: str | None = None

    @field_validator("maildir", "templates")
    @classmethod
    def _paths(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _resolve_path(value, info)

    @property
    def msgid_domain(self) -> str:
        """The domain of the From address, for Message-IDs."""
        return parseaddr(self.from_)[1].rpartition("@")[2] or "newswatch.localhost"

    @model_validator(mode="after")
    def _check(self) -> Alerts:
        if self.smtp is not None and self.maildir is not None:
            raise ValueError("give either smtp or maildir, not both")
        return self


class Retention(Strict):
    """How long the store keeps things (SPEC §13); `none` keeps them forever. A pruned
    article loses its text and matches but keeps its URL keys and fingerprint for
    `urls`, so a feed that still lists it never makes it fetched or alerted again."""

    articles: Window = timedelta(days=90)
    runs: Window = timedelta(days=30)
    alerts: Window = timedelta(days=30)
    urls: Window = timedelta(days=730)


class Metrics(Strict):
    """Prometheus: where `newswatch run` and `newswatch worker` serve /metrics and
    /healthz (host:port; none: not served). `newswatch web` serves /metrics itself."""

    listen: str | None = Field(None, pattern=r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$")


class Daemon(Strict):
    """How `newswatch run` runs the crawl worker: at most concurrent_sources polls at
    once, each ended at time_limit; the worker (with its extraction processes) drained
    and replaced above memory_limit or after recycle_after."""

    concurrent_sources: int = Field(100, ge=1, le=10000)
    time_limit: Duration = timedelta(minutes=30)
    memory_limit: Size = 2 * 1024**3
    recycle_after: Duration = timedelta(hours=24)
    send_every: Duration = timedelta(seconds=10)
    # with `queue:`: how often workers and schedulers say they are alive; a scheduler's
    # lease and a worker's polls are taken over after three missed beats
    heartbeat: Duration = timedelta(seconds=5)

    @field_validator("heartbeat")
    @classmethod
    def _heartbeat(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(seconds=60):
            raise ValueError("heartbeat must be between 1s and 60s (a standby takes over "
                             "after three missed beats)")
        return value


class Web(Strict):
    """`newswatch web`: its token (from this environment variable, else one it makes and
    keeps in the state folder), the Host names it answers to besides its own address
    and localhost (a reverse proxy's), and when its session cookie is marked Secure."""

    token_env: str = Field("NEWSWATCH_WEB_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    hosts: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.:\[\]-]+$")]] = []
    https: bool = False  # served to browsers over HTTPS (by a proxy): Secure cookies
    # proxies whose X-Forwarded-Proto / X-Forwarded-For headers are believed
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value


def _from_environment(value: str, info: ValidationInfo) -> str:
    """`${NAME}` parts of a database or queue URL read from the environment, so that the
    YAML need not hold the password (kept as written when only the syntax is checked)."""
    if not (info.context or {}).get("environment", True):
        return value
    missing = sorted({name for name in ENV_REF.findall(value) if name not in os.environ})
    if missing:
        raise ValueError(", ".join(f"${{{name}}}" for name in missing)
                         + " is not set in the environment")
    return ENV_REF.sub(lambda m: os.environ[m.group(1)], value)


class Config(Strict):
    """The whole newswatch.yaml."""

    # validated like a given value: a path relative to the config file
    database: str = Field("newswatch.db", validate_default=True)
    timezone: str = "UTC"
    crawl: CrawlOptions = CrawlOptions()
    sources: list[Source] = []
    terms: dict[Name, Annotated[list[TermEntry], Field(min_length=1)]] = {}
    watches: list[Watch] = []
    alerts: Alerts = Alerts()
    daemon: Daemon = Daemon()
    web: Web = Web()
    retention: Retention = Retention()
    metrics: Metrics = Metrics()
    # the job queue that workers on any machine take polls from (SPEC §11); None: the
    # daemon runs its own worker
    queue: str | None = None

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = _from_environment(value, info)
        scheme, sep, rest = value.partition("://")
        if scheme in ("postgres", "postgresql", "postgresql+psycopg") and sep and rest:
            return f"postgresql+psycopg://{rest}"
        raise ValueError(f"queue {mask_url(value)!r}: give a PostgreSQL URL "
                         "(postgresql://user@host/dbname); it may be the database's own")

    @field_validator("database")
    @classmethod
    def _database(cls, value: str, info: ValidationInfo) -> str:
        value = _from_environment(value, info)
        scheme, sep, rest = value.partition("://")
        if sep:
            # the spellings Heroku, libpq and docs use; SQLAlchemy knows neither by itself
            # as psycopg 3, the driver newswatch installs
            if scheme in ("postgres", "postgresql"):
                return f"postgresql+psycopg://{rest}"
            return value
        return "sqlite:///" + _resolve_path(value, info)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("sources", "watches")
    @classmethod
    def _unique(cls, items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                raise ValueError(f"duplicate name {item.name!r}")
            seen.add(item.name)
        return items

    def source(self, name: str) -> Source:
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(name)

    def recipients(self, watch: Watch, even_disabled: bool = False) -> list[str]:
        """Where the watch's alerts go: email addresses and channel URLs (none when it is
        disabled, unless `even_disabled`)."""
        if not watch.enabled and not even_disabled:
            return []
        return [*(watch.to if watch.to is not None else self.alerts.to),
                *(watch.notify if watch.notify is not None else self.alerts.notify)]

    @property
    def ops_recipients(self) -> list[str]:
        return list(self.alerts.ops if self.alerts.ops is not None else self.alerts.to)


class _YamlSchema(GenerateJsonSchema):
    """Defaults written the way the YAML writes them (`3d`, not ISO `P3D`)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of newswatch.yaml, for editors (`newswatch schema`)."""
    schema = Config.model_json_schema(by_alias=True, schema_generator=_YamlSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "newswatch config (newswatch.yaml)"
    return schema


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: itself, or inside Optional, list, dict, Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def known_keys(loc: Sequence[Any]) -> list[str]:
    """The keys the mapping at `loc` (a pydantic error location, the unknown key last)
    may hold, as the YAML writes them: for "did you mean" on an unknown key."""
    model: type[BaseModel] = Config
    for key in loc[:-1]:
        if not isinstance(key, str):
            continue  # a list index: the same model's items
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        field = fields.get(key) or model.model_fields.get(key)
        if field is None:
            continue  # a union's branch name, not a key
        inner = _models_in(field.annotation)
        if not inner:
            return []
        model = inner[0]
    return [f.alias or name for name, f in model.model_fields.items()]
