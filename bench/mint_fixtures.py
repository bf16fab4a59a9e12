"""`make bench-fixtures`: mint the instruction gate's keys and tokens into bench/fixtures/.

The gate (bench/gate.py) counts instructions, which is exact only if two runs execute the same
instructions: key generation is randomised (prime search) and ECDSA/PSS signatures are too, so the
keys and tokens are made once, here, and committed. Valid tokens expire in 2100 and carry a fixed
`iat`, expired ones expired in 2026, so the same files serve for decades. Regenerate only on
purpose (a new case, another token shape), then re-baseline: `make bench-baseline`.

    python -m bench.mint_fixtures [--new-keys]

The private keys are committed (they sign nothing but these fixtures) so that a re-mint keeps the
keys: RS256 and EdDSA signatures are deterministic, so those tokens come out byte for byte the same.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet

from fastauthz.dev.tokens import generate_key, sign

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ISSUER = "https://issuer.gate.example"
URL_ISSUER = "https://rotating.gate.example"  # the issuer whose keys come from a URL (unknown-kid cooldown)
AUDIENCE = "gate-client"
ISSUED_AT = 1_767_225_600  # 2026-01-01T00:00:00Z
FAR_EXPIRY = 4_102_444_800  # 2100-01-01T00:00:00Z
PAST_EXPIRY = ISSUED_AT + 3600  # long past any leeway by the time anyone runs the gate
# Tokens per set: LEAD_IN + WINDOW measured calls (bench/gate.py), then WARMUP more that run first.
LEAD_IN = 32
WINDOW = 128
COUNT = LEAD_IN + WINDOW
WARMUP = 8
KEYS = {"RS256-2048": "RS256", "PS256": "PS256", "ES256": "ES256", "EdDSA": "EdDSA"}  # fixture name: alg


def claims(sub: str, **overrides: Any) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": ISSUED_AT,
        "exp": FAR_EXPIRY,
        "scope": "chat:read chat:write",
        "email": f"{sub}@example.com",
        **overrides,
    }


def mint(key: Any, alg: str, payload: dict[str, Any], kid: str | None = None) -> str:
    return sign(key, payload, alg=alg, kid=kid or key.kid, typ="JWT")


def load_or_generate_keys(new: bool) -> dict[str, Any]:
    saved = FIXTURES / "private-keys.json"
    if new or not saved.exists():
        return {name: generate_key(alg, kid=f"gate-{name.lower()}") for name, alg in KEYS.items()}
    key_set = KeySet.import_key_set(json.loads(saved.read_text()))
    return {name: key_set.get_by_kid(f"gate-{name.lower()}") for name in KEYS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new-keys", action="store_true", help="generate new keys instead of re-using the committed ones")
    args = parser.parse_args(argv)
    FIXTURES.mkdir(exist_ok=True)
    keys = load_or_generate_keys(args.new_keys)
    total = COUNT + WARMUP
    tokens: dict[str, list[str]] = {}
    for name, key in keys.items():
        alg = KEYS[name]
        tokens[name] = [mint(key, alg, claims(f"user-{i}")) for i in range(total)]
    rsa = keys["RS256-2048"]
    tokens["expired"] = [mint(rsa, "RS256", claims(f"user-{i}", exp=PAST_EXPIRY)) for i in range(total)]
    tokens["wrong audience"] = [mint(rsa, "RS256", claims(f"user-{i}", aud="someone-else")) for i in range(total)]
    # A flood of kids nobody published, at the URL issuer (only a URL source refetches on them).
    tokens["unknown kid"] = [mint(rsa, "RS256", claims(f"user-{i}", iss=URL_ISSUER), kid=f"unpublished-{i}") for i in range(total)]
    key_set = KeySet(list(keys.values()))
    write("jwks.json", key_set.as_dict(private=False))
    write("private-keys.json", key_set.as_dict(private=True))
    write(
        "tokens.json",
        {
            "issuer": ISSUER,
            "url_issuer": URL_ISSUER,
            "audience": AUDIENCE,
            "count": COUNT,
            "lead_in": LEAD_IN,
            "window": WINDOW,
            "warmup": WARMUP,
            "tokens": tokens,
        },
    )
    print(f"wrote {FIXTURES}: {len(keys)} keys, {sum(map(len, tokens.values()))} tokens; now run `make bench-baseline`")
    return 0


def write(name: str, document: Any) -> None:
    (FIXTURES / name).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.exit(main())
