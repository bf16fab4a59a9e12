"""Compact JWS parsing (RFC 7515 §7.1): size cap, three segments, strict base64url, JSON objects.

Hot path. Nothing here trusts the token: it returns an UnverifiedToken, and only
`keys.PreparedKey.verify` decides whether its signature holds.
"""

from __future__ import annotations

from binascii import a2b_base64
from typing import Any

from orjson import loads

from .errors import Rejected, truncate

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


class UnverifiedToken(tuple):  # type: ignore[type-arg]
    """(header, payload, signing_input, signature_segment) of a token not yet checked.

    A tuple built with one C call (a slotted object's __init__ cost ~0.4 µs per token). The
    signature stays encoded until the cheap checks have passed: see `decode_signature`.
    """

    __slots__ = ()

    @property
    def header(self) -> dict[str, Any]:
        return self[0]  # type: ignore[no-any-return]

    @property
    def payload(self) -> dict[str, Any]:
        return self[1]  # type: ignore[no-any-return]

    @property
    def signing_input(self) -> bytes:
        return self[2]  # type: ignore[no-any-return]

    @property
    def signature(self) -> bytes:
        return decode_signature(self[3])

    @property
    def alg(self) -> str:
        return self[0]["alg"]  # type: ignore[no-any-return]

    @property
    def kid(self) -> str | None:
        return self[0].get("kid")  # type: ignore[no-any-return]


_new_token = tuple.__new__


def b64url_decode(segment: bytes) -> bytes:
    """Strict, unpadded base64url (RFC 7515 §2). Raises Rejected or ValueError."""
    remainder = len(segment) & 3
    if remainder and (remainder == 1 or segment[-1] not in _CANONICAL_LAST[remainder]):
        raise Rejected("malformed", "non-canonical base64url")
    return a2b_base64(segment.translate(_TO_STANDARD_ALPHABET) + _PADDING[remainder], strict_mode=True)


def decode_signature(segment: bytes) -> bytes:
    """The signature bytes. Raises Rejected('malformed'). (b64url_decode inlined: hot path.)"""
    remainder = len(segment) & 3
    if remainder and (remainder == 1 or segment[-1] not in _CANONICAL_LAST[remainder]):
        raise Rejected("malformed", "non-canonical base64url")
    try:
        return a2b_base64(segment.translate(_TO_STANDARD_ALPHABET) + _PADDING[remainder], strict_mode=True)
    except ValueError:
        raise Rejected("malformed", "bad base64url in signature") from None


def parse_token(token: str, max_bytes: int, algorithms: frozenset[str] | None = None) -> UnverifiedToken:
    """Split a compact JWS and decode header and payload. Raises Rejected (malformed, token_too_large, ...).

    With `algorithms`, a header whose alg is not among them is refused before the payload is decoded.
    """
    # Size and shape before any decoding (joserfc does the same; see bench reject-early).
    if len(token) > max_bytes:
        raise Rejected("token_too_large", f"{len(token)} bytes > {max_bytes}")
    try:
        raw = token.encode("ascii")
        header_segment, payload_segment, signature_segment = raw.split(b".")
        # b64url_decode inlined twice: parsing is the largest share of the handler's own cost.
        remainder = len(header_segment) & 3
        if remainder and (remainder == 1 or header_segment[-1] not in _CANONICAL_LAST[remainder]):
            raise Rejected("malformed", "non-canonical base64url")
        header = loads(a2b_base64(header_segment.translate(_TO_STANDARD_ALPHABET) + _PADDING[remainder], strict_mode=True))
        if algorithms is not None and type(header) is dict:
            alg = header.get("alg")
            if type(alg) is str and alg not in algorithms:  # alg none and friends: no need for the payload
                raise Rejected("alg_not_allowed", truncate(alg))
        remainder = len(payload_segment) & 3
        if remainder and (remainder == 1 or payload_segment[-1] not in _CANONICAL_LAST[remainder]):
            raise Rejected("malformed", "non-canonical base64url")
        payload = loads(a2b_base64(payload_segment.translate(_TO_STANDARD_ALPHABET) + _PADDING[remainder], strict_mode=True))
    except ValueError:
        # Not ASCII (UnicodeEncodeError), not three segments (five is a JWE: encrypted tokens are
        # not accepted here), bad base64url (binascii.Error) or bad JSON: all are ValueErrors.
        raise Rejected("malformed", "not three base64url JSON segments") from None
    if type(header) is not dict or type(payload) is not dict:
        raise Rejected("malformed", "header and payload must be JSON objects")
    kid = header.get("kid")
    if (type(header.get("alg")) is not str or not header.keys() <= _PLAIN_HEADER
            or (kid is not None and (type(kid) is not str or len(kid) > MAX_KID_LENGTH))):
        check_header(header)
    return _new_token(UnverifiedToken, (header, payload, raw[: len(header_segment) + 1 + len(payload_segment)], signature_segment))


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
