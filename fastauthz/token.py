"""Compact JWS parsing (RFC 7515 §7.1): size cap, three segments, strict base64url, JSON objects.

Hot path. Nothing here trusts the token: only a key's verifier (`keys.PreparedKey.verifiers[alg]`)
decides whether a signature holds. The authorizer calls the steps one by one (split_token,
HeaderCache, decode_payload, then decode_signature after the cheap checks); testkit/tokens.py's
`parse_token` chains the same steps for the tests.
"""

from __future__ import annotations

from binascii import a2b_base64
from typing import Any

from .cache import remember
from .errors import Rejected, truncate
from .strictjson import loads, scan_once

# base64url -> base64 in one C call. Characters outside the base64url alphabet that
# a2b_base64 would accept ('+', '/', '=') are mapped to '!' so that strict mode refuses them.
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")
# A segment of length 4k+2 or 4k+3 ends in a character with unused low bits. Only the canonical
# character (unused bits zero) is accepted, else a flipped last character would decode to the same
# bytes and a modified token would still verify (RFC 4648 §3.5).
_CANONICAL_LAST: tuple[frozenset[int], ...] = (
    frozenset(),
    frozenset(),
    frozenset(b"AQgw"),
    frozenset(b"AEIMQUYcgkosw048"),
)
# JWS header parameters fastauthz understands; anything marked critical must be among them
# (RFC 7515 §4.1.11). It understands none that may be critical, so any `crit` is refused.
_UNDERSTOOD_CRITICAL: frozenset[str] = frozenset()
MAX_KID_LENGTH = 256
# Header parameters that need no check beyond the types of alg and kid. jku, x5u, jwk and x5c are
# listed because they are harmless here: fastauthz never reads them (RFC 8725 §3.10).
_PLAIN_HEADER = frozenset({"alg", "kid", "typ", "cty", "x5t", "x5t#S256", "jku", "x5u", "jwk", "x5c"})


def b64url_decode(segment: bytes) -> bytes:
    """Strict, unpadded base64url (RFC 7515 §2). Raises Rejected or ValueError."""
    remainder = len(segment) & 3
    if remainder and (remainder == 1 or segment[-1] not in _CANONICAL_LAST[remainder]):
        raise Rejected("malformed", "non-canonical base64url")
    return a2b_base64(segment.translate(_TO_STANDARD_ALPHABET) + _PADDING[remainder], strict_mode=True)


def split_token(token: str, max_bytes: int) -> tuple[bytes, bytes, bytes, bytes]:
    """(token as bytes, header, payload, signature segments). Size and shape before any decoding."""
    if len(token) > max_bytes:
        raise Rejected("token_too_large", f"{len(token)} bytes > {max_bytes}")
    if not token.isascii():
        raise Rejected("malformed", "not ASCII")
    raw = token.encode("ascii")
    segments = raw.split(b".")
    if len(segments) != 3:  # five is a JWE: encrypted tokens are not accepted here
        raise Rejected("malformed", "not three base64url segments")
    header_segment, payload_segment, signature_segment = segments
    return raw, header_segment, payload_segment, signature_segment


def decode_header(segment: bytes, algorithms: frozenset[str] | None = None) -> dict[str, Any]:
    """The JOSE header, checked. With `algorithms`, an alg outside them is refused here, before
    anything else of the token is decoded (alg none and friends)."""
    try:
        header = loads(b64url_decode(segment))
    except ValueError:  # bad base64url (binascii.Error) or bad JSON
        raise Rejected("malformed", "header is not base64url JSON") from None
    if type(header) is not dict:
        raise Rejected("malformed", "header and payload must be JSON objects")
    alg = header.get("alg")
    if algorithms is not None and type(alg) is str and alg not in algorithms:
        raise Rejected("alg_not_allowed", truncate(alg))
    kid = header.get("kid")
    if (
        type(alg) is not str
        or not header.keys() <= _PLAIN_HEADER
        or (kid is not None and (type(kid) is not str or len(kid) > MAX_KID_LENGTH))
    ):
        check_header(header)
    return header


def decode_payload(segment: bytes) -> dict[str, Any]:
    """The JWT claims set, a JSON object. Raises Rejected('malformed').

    Hot path, one frame: b64url_decode and strictjson.loads written out for the common payload
    (canonical base64url, a JSON object with nothing around it and no \\u escape). Anything else
    takes _decode_payload, the two functions themselves, which refuse or accept it exactly."""
    remainder = len(segment) & 3
    if not remainder or (remainder != 1 and segment[-1] in _CANONICAL_LAST[remainder]):
        try:
            text = a2b_base64(segment.translate(_TO_STANDARD_ALPHABET) + _PADDING[remainder], strict_mode=True).decode()
            payload, end = scan_once(text, 0)
        except (ValueError, StopIteration, RecursionError):
            return _decode_payload(segment)
        if end == len(text) and type(payload) is dict and "\\u" not in text:
            return payload
    return _decode_payload(segment)


def _decode_payload(segment: bytes) -> dict[str, Any]:
    try:
        payload = loads(b64url_decode(segment))
    except ValueError:
        raise Rejected("malformed", "payload is not base64url JSON") from None
    if type(payload) is not dict:
        raise Rejected("malformed", "header and payload must be JSON objects")
    return payload


def decode_signature(segment: bytes) -> bytes:
    """The signature bytes. Raises Rejected('malformed')."""
    try:
        return b64url_decode(segment)
    except ValueError:
        raise Rejected("malformed", "bad base64url in signature") from None


class HeaderCache:
    """Checked headers by their exact encoded segment, and refused ones with their refusal.

    One issuer signs every token with one of a handful of headers, so the header of a fresh token
    is nearly always one already checked: a dict lookup instead of base64 + JSON + checks. An
    entry is a pure function of the segment's bytes and of `algorithms` (fixed at cold start), so
    it never goes stale. Bounded, first in first out: a flood of distinct headers costs what it
    would without the cache.
    """

    __slots__ = ("algorithms", "entries", "refused", "size")

    def __init__(self, algorithms: frozenset[str] | None, size: int = 64) -> None:
        self.algorithms = algorithms
        self.size = size
        self.entries: dict[bytes, tuple[dict[str, Any], str, str | None]] = {}
        self.refused: dict[bytes, tuple[str, str]] = {}

    def parse(self, segment: bytes) -> tuple[dict[str, Any], str, str | None]:
        """(header, alg, kid) for a segment not in `entries`, remembered. Raises Rejected."""
        refusal = self.refused.get(segment)
        if refusal is not None:
            raise Rejected(*refusal)
        try:
            header = decode_header(segment, self.algorithms)
        except Rejected as rejection:
            remember(self.refused, segment, (rejection.reason, rejection.detail), self.size)
            raise
        entry = (header, header["alg"], header.get("kid"))
        remember(self.entries, segment, entry, self.size)
        return entry


def check_header(header: dict[str, Any]) -> None:
    """Header rules that do not depend on the issuer. `jku`, `x5u`, `jwk`, `x5c` are never read."""
    alg = header.get("alg")
    if type(alg) is not str:
        raise Rejected("malformed", "alg must be a string")
    kid = header.get("kid")
    if kid is not None and (type(kid) is not str or len(kid) > MAX_KID_LENGTH):
        raise Rejected("malformed", "kid must be a short string")
    if "crit" in header:
        critical = header["crit"]
        if type(critical) is not list or not critical or not set(map(str, critical)) <= _UNDERSTOOD_CRITICAL:
            raise Rejected("unsupported_crit", truncate(critical))
    if "b64" in header:
        # RFC 7797 unencoded payloads: b64 is only meaningful with crit, which is refused above.
        raise Rejected("unsupported_crit", "b64")
