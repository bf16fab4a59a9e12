"""Which web pages may open a connection: the handshake's `Origin` against JWT_ALLOWED_ORIGINS.
Hot path when configured; never loaded otherwise.

A browser attaches its cookies to a WebSocket handshake whatever page opens it, and tells the page's
origin in `Origin` (RFC 6455 §10.2), which a page cannot forge. A cookie alone therefore proves
nothing about who opened the socket (cross-site WebSocket hijacking): the allow-list does. Clients
that are not browsers send no `Origin`; they pass unless JWT_REQUIRE_ORIGIN=true.

Allowed entries are exact origins (`https://app.example.com`, `http://127.0.0.1:8080`) or one
wildcard label (`https://*.example.com`: any single subdomain level, on the default port).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigError, Rejected, truncate

ANY_ORIGIN = "*"
_LABEL_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_HOST_CHARACTERS = _LABEL_CHARACTERS | frozenset(".[]:")


def _is_label(text: str) -> bool:
    """One DNS label (RFC 1123 §2.1), lower case: what a wildcard may stand for."""
    return 0 < len(text) <= 63 and text[0] != "-" and text[-1] != "-" and all(c in _LABEL_CHARACTERS for c in text)


def parse_origin(name: str, entry: str) -> str:
    """One allowed origin as browsers serialise it (lower case, no path, no default port left
    implicit), or ConfigError naming `name`."""
    origin = entry.strip().lower()
    scheme, separator, authority = origin.partition("://")
    if scheme not in ("https", "http") or not separator or not authority:
        raise ConfigError(name, f"{entry!r} is not an origin: expected https://host or http://host:port")
    if "/" in authority or "?" in authority or "#" in authority or "@" in authority:
        raise ConfigError(name, f"{entry!r}: an origin is scheme://host[:port], with no path, query or user")
    host = authority[2:] if authority.startswith("*.") else authority
    if not host or not all(c in _HOST_CHARACTERS for c in host) or "*" in host:
        raise ConfigError(name, f"{entry!r}: expected a host name, an address, or *.domain for one subdomain level")
    # Entries a browser's Origin can never equal would silently refuse every page they meant to allow.
    hostname, port = _split_port(host)
    if port is not None:
        if not port.isdigit() or not 0 < int(port) <= 65535:
            raise ConfigError(name, f"{entry!r}: a port is a number from 1 to 65535")
        if port == DEFAULT_PORTS[scheme]:
            raise ConfigError(name, f"{entry!r}: browsers omit the default port; write {scheme}://{authority[: -len(port) - 1]}")
    if not hostname.startswith("["):
        labels = hostname.split(".")
        if not all(labels):
            raise ConfigError(name, f"{entry!r}: an empty label or a trailing dot, which no browser sends in an Origin")
        if authority.startswith("*.") and (len(labels) < 2 or hostname in PUBLIC_SUFFIXES):
            raise ConfigError(name, f"{entry!r} covers a public suffix: every site under it could connect")
    return origin


DEFAULT_PORTS = {"https": "443", "http": "80"}
# Wildcards must not cover a public suffix (a top-level domain, or one of these, where anyone can
# register a subdomain). Not the whole Public Suffix List: the common ones a configuration might name.
PUBLIC_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.nz", "co.jp", "ne.jp", "or.jp", "com.br",
        "com.cn", "com.mx", "co.in", "co.za", "com.tr", "com.sg", "co.kr", "github.io", "gitlab.io", "vercel.app",
        "netlify.app", "herokuapp.com", "pages.dev", "workers.dev", "web.app", "firebaseapp.com", "appspot.com",
        "cloudfront.net", "amazonaws.com", "azurewebsites.net", "azurestaticapps.net", "onrender.com", "fly.dev",
    }
)  # fmt: skip


def _split_port(host: str) -> tuple[str, str | None]:
    """(host, port or None); an IPv6 literal keeps its brackets."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        return host[: end + 1], (rest[1:] if rest.startswith(":") else None)
    hostname, colon, port = host.rpartition(":")
    return (hostname, port) if colon else (host, None)


class OriginCheck:
    """Refuses an event whose Origin is not allowed: Rejected('bad_origin'), a Deny (403)."""

    __slots__ = ("exact", "required", "wildcards")

    def __init__(self, allowed: tuple[str, ...], required: bool) -> None:
        self.exact = frozenset(origin for origin in allowed if "://*." not in origin)
        # ("https://", ".example.com") for https://*.example.com
        self.wildcards = tuple((origin[: origin.index("*")], origin[origin.index("*") + 1 :]) for origin in allowed if "://*." in origin)
        self.required = required

    def allows(self, origin: str) -> bool:
        origin = origin.lower()
        if origin in self.exact:
            return True
        for prefix, suffix in self.wildcards:
            if origin.startswith(prefix) and origin.endswith(suffix) and _is_label(origin[len(prefix) : -len(suffix)]):
                return True
        return False

    def check(self, event: Mapping[str, Any]) -> None:
        if event.get("type") == "TOKEN":  # a REST TOKEN authorizer's event has the token alone: no Origin to check
            raise Rejected("bad_origin", "a TOKEN authorizer's event carries no Origin: use a REQUEST authorizer")
        origin = _origin_of(event)
        if origin is None:
            if self.required:
                raise Rejected("bad_origin", "no Origin, and JWT_REQUIRE_ORIGIN=true")
            return
        if not self.allows(origin):
            raise Rejected("bad_origin", truncate(origin))


def _origin_of(event: Mapping[str, Any]) -> str | None:
    """The event's Origin header (any case; `headers` or `multiValueHeaders`), None when absent.
    Raises Rejected('bad_origin') for one that is not a single string."""
    values: list[Any] = []
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if type(headers) is not dict:
            continue
        for name, value in headers.items():
            if type(name) is str and name.lower() == "origin":
                values.append(value)
        if values:
            break
    if not values:
        return None
    value = values[0] if len(values) == 1 else None
    if type(value) is list:
        value = value[0] if len(value) == 1 else None
    if type(value) is not str or not value:
        raise Rejected("bad_origin", "not a single Origin header")
    return value


def checking_origin(extract: Callable[[Mapping[str, Any]], str], check: OriginCheck) -> Callable[[Mapping[str, Any]], str]:
    """`extract`, after the Origin check: it runs on every event, before any cache can answer, so
    that a token allowed from one page never answers a handshake from another."""
    verify_origin = check.check

    def extract_after_origin(event: Mapping[str, Any]) -> str:
        verify_origin(event)
        return extract(event)

    return extract_after_origin
