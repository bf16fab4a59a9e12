"""Key documents (RFC 7517 JWKS, Google's x509 certificate map) -> prepared public keys by kid.

Cold path builds keys once (cryptography objects, padding and hash instances included); the hot path
only calls `PreparedKey.verifiers[alg](signature, signing_input)`, which raises on a bad signature.
Each key accepts only the algorithms its type fits (RFC 8725 §3.1): the token's `alg` picks a
verifier from the key, never a key type.
"""

from __future__ import annotations

from binascii import a2b_base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512, HashAlgorithm

from .errors import KeySetError, truncate
from .strictjson import loads

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519

Verifier = Callable[[bytes, bytes], None]  # (signature, signing_input) -> None, raises on mismatch

MIN_RSA_BITS = 2048  # RFC 7518 §3.3; smaller keys are skipped at load
_HASHES: dict[str, HashAlgorithm] = {"256": SHA256(), "384": SHA384(), "512": SHA512()}
# crv: (the one alg it signs, coordinate size in bytes). The curve objects come with cryptography's
# `ec` module, imported with the first EC key: it costs ~4 ms of cold start (the OID tables), which
# the RSA-only key sets of Cognito, Auth0, Entra ID, Okta and Google never need (bench/coldstart.py).
# Ed25519 and Ed448 are imported with the first OKP key for the same reason.
EC_CURVES: dict[str, tuple[str, int]] = {"P-256": ("ES256", 32), "P-384": ("ES384", 48), "P-521": ("ES512", 66)}
_PKCS1 = padding.PKCS1v15()


def _ec_curve(crv: str) -> ec.EllipticCurve:
    from cryptography.hazmat.primitives.asymmetric import ec

    if crv == "P-256":
        return ec.SECP256R1()
    return ec.SECP384R1() if crv == "P-384" else ec.SECP521R1()


class PreparedKey:
    """One public key, ready to verify; `verifiers` maps each alg it may be used with."""

    __slots__ = ("kid", "kty", "material", "verifiers")

    def __init__(self, kid: str | None, kty: str, verifiers: dict[str, Verifier], material: tuple[Any, ...]) -> None:
        self.kid = kid
        self.kty = kty
        self.verifiers = verifiers
        # Identity of the key material, to tell a re-published key from a replaced one.
        self.material = material

    def __repr__(self) -> str:
        return f"PreparedKey(kid={self.kid!r}, kty={self.kty!r}, algs={sorted(self.verifiers)})"


class KeySet:
    """Keys by kid. `sole` is the key used for tokens without a kid (only when the set has one key)."""

    __slots__ = ("by_kid", "skipped", "sole")

    def __init__(self, keys: list[PreparedKey], skipped: list[str] | None = None) -> None:
        self.by_kid: dict[str | None, PreparedKey] = {}
        for key in keys:
            self.by_kid.setdefault(key.kid, key)
        self.sole = keys[0] if len(keys) == 1 else None
        self.skipped = skipped or []

    def __len__(self) -> int:
        return len(self.by_kid)

    def find(self, kid: str | None) -> PreparedKey | None:
        return self.by_kid.get(kid) if kid is not None else self.sole


def rsa_verifiers(public_key: rsa.RSAPublicKey, only: str | None = None) -> dict[str, Verifier]:
    verifiers: dict[str, Verifier] = {}
    for bits, hash_algorithm in _HASHES.items():
        pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)

        def pkcs1(signature: bytes, data: bytes, h: HashAlgorithm = hash_algorithm) -> None:
            public_key.verify(signature, data, _PKCS1, h)

        def pss_verify(signature: bytes, data: bytes, h: HashAlgorithm = hash_algorithm, p: padding.PSS = pss) -> None:
            public_key.verify(signature, data, p, h)

        verifiers["RS" + bits] = pkcs1
        verifiers["PS" + bits] = pss_verify
    return _restrict(verifiers, only)


_ECDSA: dict[str, ec.ECDSA] = {}


def _ecdsa(alg: str) -> ec.ECDSA:
    # Built on first use: ec.ECDSA() imports cryptography's OpenSSL backend module (threading,
    # cipher tables: ~5 ms), which a cold start whose tokens are all RSA should not pay.
    instance = _ECDSA.get(alg)
    if instance is None:
        from cryptography.hazmat.primitives.asymmetric import ec

        instance = _ECDSA[alg] = ec.ECDSA(_HASHES[alg[2:]])
    return instance


def der_heads(size: int) -> tuple[tuple[bytes, bytes], ...] | None:
    """The DER around a JWS r||s of two `size`-byte scalars whose first bytes are both nonzero, by
    (r's top bit | s's top bit << 1): (SEQUENCE head + r's INTEGER head, s's INTEGER head). A top
    bit set takes a 0x00 before the scalar (DER integers are signed). None where the SEQUENCE needs
    a long-form length (P-521)."""
    if 2 * (size + 3) > 127:
        return None
    heads = []
    for bits in range(4):
        r_head, s_head = (bytes((2, size + 1, 0)) if bits & bit else bytes((2, size)) for bit in (1, 2))
        heads.append((bytes((0x30, len(r_head) + len(s_head) + 2 * size)) + r_head, s_head))
    return tuple(heads)


def ec_verifier(public_key: ec.EllipticCurvePublicKey, alg: str, size: int) -> Verifier:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    heads = der_heads(size)

    def verify(signature: bytes, data: bytes) -> None:
        # JWS carries r||s of fixed size (RFC 7518 §3.4); r = s = 0 (CVE-2022-21449) is refused
        # by OpenSSL's range check, and any other length is refused here.
        if len(signature) != 2 * size:
            raise InvalidSignature
        r, s = signature[:size], signature[size:]
        if heads is not None and r[0] and s[0]:
            # cryptography verifies DER only. Built by table for the common signature (both first
            # bytes nonzero: 255 in 256 of each): ~0.2 µs, against ~1 µs through two ints and
            # encode_dss_signature, which builds the rest (leading zeros to strip, P-521).
            head, s_head = heads[(r[0] >> 7) | (s[0] >> 7) << 1]
            der = b"".join((head, r, s_head, s))
        else:
            der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
        public_key.verify(der, data, _ecdsa(alg))

    return verify


def eddsa_verifier(public_key: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey) -> Verifier:
    # The key's own bound method: verify(signature, data) already has the Verifier shape, and a
    # wrapper would add a Python frame to every EdDSA token.
    return public_key.verify


def hmac_key(secret: bytes) -> PreparedKey:
    """The issuer's shared secret as a key for HS256/384/512 (only built when configured)."""
    import hashlib
    import hmac

    def make(name: str) -> Verifier:
        def verify(signature: bytes, data: bytes) -> None:
            if not hmac.compare_digest(hmac.digest(secret, data, name), signature):
                raise InvalidSignature

        return verify

    verifiers = {"HS" + bits: make(f"sha{bits}") for bits in _HASHES}
    return PreparedKey(None, "oct", verifiers, ("oct", hashlib.sha256(secret).hexdigest()))


def _restrict(verifiers: dict[str, Verifier], only: str | None) -> dict[str, Verifier]:
    if only is None:
        return verifiers
    if only not in verifiers:
        raise ValueError(f"alg {only!r} does not fit this key type")
    return {only: verifiers[only]}


def _b64(value: Any, name: str) -> bytes:
    if type(value) is not str or not value:
        raise ValueError(f"{name} must be a base64url string")
    # Keys come from the configured source, but are still decoded strictly, except that padding is
    # accepted: some providers publish padded numbers, and refusing them would refuse their keys.
    # Tokens go through token.b64url_decode, which also refuses padding and non-canonical endings.
    return a2b_base64((value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4)).translate(str.maketrans("-_", "+/")), strict_mode=True)


def prepare_jwk(jwk: dict[str, Any]) -> PreparedKey:
    """One JWK -> PreparedKey. Raises ValueError (with a short reason) for an unusable key."""
    if jwk.get("use", "sig") != "sig":
        raise ValueError("use is not sig")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and "verify" not in key_ops:
        raise ValueError("key_ops does not allow verify")
    kid = jwk.get("kid")
    if kid is not None and type(kid) is not str:
        raise ValueError("kid must be a string")
    alg = jwk.get("alg")
    if alg is not None and type(alg) is not str:
        raise ValueError("alg must be a string")
    kty = jwk.get("kty")
    if kty == "RSA":
        n = int.from_bytes(_b64(jwk.get("n"), "n"), "big")
        e = int.from_bytes(_b64(jwk.get("e"), "e"), "big")
        if n.bit_length() < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {n.bit_length()} bits < {MIN_RSA_BITS}")
        if "d" in jwk:
            raise ValueError("private key material in a public key set")
        public_rsa = rsa.RSAPublicNumbers(e, n).public_key()
        return PreparedKey(kid, "RSA", rsa_verifiers(public_rsa, alg), ("RSA", n, e))
    if kty == "EC":
        crv = jwk.get("crv")
        if crv not in EC_CURVES:
            raise ValueError(f"unsupported EC curve {truncate(crv)}")
        curve_alg, size = EC_CURVES[crv]
        x, y = _b64(jwk.get("x"), "x"), _b64(jwk.get("y"), "y")
        if len(x) != size or len(y) != size:
            raise ValueError("EC coordinates of the wrong size")
        if alg is not None and alg != curve_alg:
            raise ValueError(f"alg {alg} does not fit curve {crv}")
        from cryptography.hazmat.primitives.asymmetric import ec

        public_ec = ec.EllipticCurvePublicKey.from_encoded_point(_ec_curve(crv), b"\x04" + x + y)
        return PreparedKey(kid, "EC", {curve_alg: ec_verifier(public_ec, curve_alg, size)}, ("EC", crv, x, y))
    if kty == "OKP":
        crv = jwk.get("crv")
        x = _b64(jwk.get("x"), "x")
        public_ed: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
        if crv == "Ed25519":
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            public_ed = Ed25519PublicKey.from_public_bytes(x)
        elif crv == "Ed448":
            from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey

            public_ed = Ed448PublicKey.from_public_bytes(x)
        else:
            raise ValueError(f"unsupported OKP curve {truncate(crv)}")
        if alg is not None and alg not in ("EdDSA", crv):
            raise ValueError(f"alg {alg} does not fit curve {crv}")
        # "EdDSA" (RFC 8037) or the curve's own name (RFC 9864) both sign with this key.
        verifier = eddsa_verifier(public_ed)
        return PreparedKey(kid, "OKP", _restrict({"EdDSA": verifier, crv: verifier}, alg), ("OKP", crv, x))
    raise ValueError(f"unsupported kty {truncate(kty)}")


def prepare_certificate(kid: str, pem: str) -> PreparedKey:
    """One entry of Google's x509 map (kid -> PEM certificate) -> PreparedKey."""
    from cryptography import x509  # only key sets in this format pay for this import
    from cryptography.hazmat.primitives.asymmetric import ec

    public_key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {public_key.key_size} bits < {MIN_RSA_BITS}")
        numbers = public_key.public_numbers()
        return PreparedKey(kid, "RSA", rsa_verifiers(public_key), ("RSA", numbers.n, numbers.e))
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for crv, (curve_alg, size) in EC_CURVES.items():
            if public_key.curve.name == _ec_curve(crv).name:
                point = public_key.public_numbers()
                return PreparedKey(kid, "EC", {curve_alg: ec_verifier(public_key, curve_alg, size)}, ("EC", crv, point.x, point.y))
    raise ValueError("unsupported certificate key type")


def load_key_set(document: bytes | str | dict[str, Any]) -> KeySet:
    """Parse a key document; the content decides the format. Raises KeySetError when unusable."""
    if not isinstance(document, dict):
        try:
            document = loads(document)
        except ValueError:
            raise KeySetError("key set is not valid JSON") from None
    if not isinstance(document, dict):
        raise KeySetError("key set must be a JSON object")
    keys: list[PreparedKey] = []
    skipped: list[str] = []
    if "keys" in document:
        entries = document["keys"]
        if not isinstance(entries, list):
            raise KeySetError("JWKS 'keys' must be a list")
        for index, jwk in enumerate(entries):
            name = truncate(jwk.get("kid", f"#{index}")) if isinstance(jwk, dict) else f"#{index}"
            try:
                if not isinstance(jwk, dict):
                    raise ValueError("not an object")
                keys.append(prepare_jwk(jwk))
            except (ValueError, TypeError, KeyError) as error:
                skipped.append(f"{name}: {error}")
    elif document and all(isinstance(v, str) and "BEGIN CERTIFICATE" in v for v in document.values()):
        for kid, pem in document.items():
            try:
                keys.append(prepare_certificate(kid, pem))
            except ValueError as error:
                skipped.append(f"{truncate(kid)}: {error}")
    else:
        raise KeySetError('neither a JWKS ({"keys": [...]}) nor an x509 certificate map ({kid: PEM})')
    if not keys:
        raise KeySetError("no usable signing key" + (f" (skipped: {'; '.join(skipped)})" if skipped else ""))
    return KeySet(keys, skipped)
