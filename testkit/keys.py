"""Named test keys, generated once per session (kid = name; the name's prefix says the kind)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet, RSAKey

from fastauthz.dev.tokens import generate_key

# name prefix -> (alg the key is generated for, RSA size)
KINDS: dict[str, tuple[str, int | None]] = {
    "rsa": ("RS256", 2048),
    "rsa4096": ("RS256", 4096),
    "es256": ("ES256", None),
    "es384": ("ES384", None),
    "es512": ("ES512", None),
    "ed25519": ("EdDSA", None),
    "ed448": ("Ed448", None),
}


@cache
def key(name: str) -> Any:
    """The private key called `name`: `rsa-1`, `es256-2`, `rsa1024-weak`, ..."""
    kind = name.split("-")[0]
    if kind == "rsa1024":
        return _small_rsa(name)
    if kind not in KINDS:
        raise ValueError(name)
    alg, size = KINDS[kind]
    return generate_key(alg, kid=name, size=size)


def _small_rsa(kid: str) -> Any:
    """joserfc refuses to generate keys this small; tests need one to see it refused."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return RSAKey.import_key(private, parameters={"kid": kid, "use": "sig"})


def jwks(*names: str) -> dict[str, Any]:
    return dict(KeySet([key(n) for n in names]).as_dict(private=False))


def write_jwks(directory: Path, *names: str, document: Any = None) -> str:
    """The key set (or any `document`) as directory/jwks.json; returns its file:// URL."""
    path = directory / "jwks.json"
    path.write_text(json.dumps(document if document is not None else jwks(*names)))
    return f"file://{path}"
