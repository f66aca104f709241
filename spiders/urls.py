"""URL normalization: one key per article whatever variant of its URL we meet
(tracking parameters, fragments, http/https, host case, www., trailing slash, AMP)."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import tldextract
from w3lib.url import canonicalize_url

_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "ga_", "hsa_", "at_", "oly_", "vero_")
_TRACKING = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "igshid", "mkt_tok",
    "_hsenc", "_hsmi", "ref", "ref_src", "ref_url", "cmpid", "cmp", "spm", "share",
    "s_cid", "icid", "ito", "ocid", "ncid", "sr_share",
    "amp", "outputtype", "output", "amp_js_v", "usqp", "__twitter_impression",
})
_AMP_SEGMENT = re.compile(r"(/amp)+/?$|^/amp(?=/)", re.IGNORECASE)
_AMP_SUFFIX = re.compile(r"\.amp(?=(\.html?)?$)", re.IGNORECASE)


def _is_tracking(name: str, value: str) -> bool:
    low = name.lower()
    if low in ("outputtype", "output") and value.lower() != "amp":
        return False
    return low in _TRACKING or low.startswith(_TRACKING_PREFIXES)


@lru_cache(maxsize=16384)
def clean_url(url: str) -> str:
    """The URL to show and link: scheme and host kept, tracking parameters, fragment
    and AMP variants removed."""
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _is_tracking(k, v)]
    host = (parts.hostname or "").lower()
    if host.startswith("amp."):
        host = host[4:]
    netloc = host
    if parts.port and (parts.scheme, parts.port) not in (("http", 80), ("https", 443)):
        netloc = f"{host}:{parts.port}"
    path = _AMP_SEGMENT.sub("", parts.path) or "/"
    path = _AMP_SUFFIX.sub("", path)
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query), ""))


# a page's URL is keyed several times on its way through (link, request, dedupe, store):
# pure functions, so remember the recent ones
@lru_cache(maxsize=16384)
def url_key(url: str) -> str:
    """The identity of a page: scheme-less, www-less, slash-less, sorted query."""
    cleaned = canonicalize_url(clean_url(url), keep_fragments=False)
    parts = urlsplit(cleaned)
    host = parts.netloc.lower()
    if host.startswith("www."):
        host = host[4:]
    path = parts.path.rstrip("/") or "/"
    key = host + path
    if parts.query:
        key += "?" + parts.query
    return key


# the public suffix list as shipped with tldextract: never fetched at run time
_SUFFIXES = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                  include_psl_private_domains=True)


def is_robots_txt(url: str) -> bool:
    return url.rstrip("/").endswith("/robots.txt")


@lru_cache(maxsize=16384)
def registered_domain(url: str) -> str:
    """The registrable domain of the URL's host by the public suffix list (bbc.co.uk for
    feeds.bbc.co.uk): what link following allows, subdomains included. A host with no
    public suffix (an IP address, localhost, .example) is itself, less a leading www."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    domain = _SUFFIXES.extract_str(host).top_domain_under_public_suffix if host else ""
    if domain:
        return domain
    return host[4:] if host.startswith("www.") else host
