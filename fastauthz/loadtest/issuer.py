"""A load-test issuer: a signing key of the user's own, trusted by the deployed authorizer beside the
real IdP (a second JWT_ISSUERS entry), so that a load test mints distinct tokens at any rate instead of
logging test users in (Cognito's ~120 logins/s, an IdP's approval). Its state has the dev issuer's
layout (issuer.json), so that `--tokens mint:DIR` reads either."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from joserfc.jwk import KeySet

from ..dev.issuer import STATE_FILE, write_state
from ..dev.tokens import ALGORITHM_KEYS, generate_key
from ..errors import ConfigError

PUBLIC_FILE = "jwks.json"


def write_loadtest_issuer(out: Path, issuer: str, audience: str, alg: str = "ES256", scope: str = "") -> Path:
    """Write DIR/issuer.json (private, mode 600) and DIR/jwks.json (public); return the public file."""
    if alg not in ALGORITHM_KEYS:
        raise ConfigError("--alg", f"{alg!r} is not one of {', '.join(ALGORITHM_KEYS)}")
    if not issuer.startswith("https://"):
        raise ConfigError("--issuer", f"{issuer!r} is not an https:// URL (an address of yours; the authorizer compares iss exactly)")
    kid = f"loadtest-{uuid.uuid4().hex[:8]}"
    key = generate_key(alg, kid=kid, declare_alg=True)
    state = {"issuer": issuer, "audience": audience, "signing_kid": kid, "scope": scope, "keys": KeySet([key]).as_dict(private=True)}
    write_state(out / STATE_FILE, state)
    public = out / PUBLIC_FILE
    public.write_text(json.dumps(KeySet([key]).as_dict(private=False), indent=1) + "\n")
    return public
