"""fastauthz and joserfc, configured to the same policy, must agree on accept/reject.

joserfc is the oracle: over generated keys, algorithms, kids, claims and tampering, a token is
accepted by fastauthz exactly when joserfc (KeySet + algorithms + claims registry) accepts it.
The generated domain is well-typed claims with `kid` always present: there fastauthz is
deliberately stricter than joserfc (booleans as times, empty `sub`, missing `kid` with a
several-key set), which the attack suite covers with exact reason codes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from fastauthz.authorizer import Authorizer
from testkit.authorizers import Logs, make_authorizer, outcome
from testkit.events import connect_event
from testkit.forgery import tamper
from testkit.keys import jwks, key, write_jwks
from testkit.tokens import AUDIENCE, ISSUER, NOW, mint

TRUSTED = ("rsa-1", "es256-1", "es384-1", "ed25519-1")
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
LEEWAY = 5
ALGS_FOR = {"rsa": ["RS256", "RS512", "PS256", "PS384"], "es256": ["ES256"], "es384": ["ES384"], "ed25519": ["EdDSA"]}


@pytest.fixture(scope="module")
def fastauthz(tmp_path_factory: pytest.TempPathFactory) -> Authorizer:
    directory = Path(tmp_path_factory.mktemp("keys"))
    return make_authorizer(
        write_jwks(directory, *TRUSTED),
        logs=Logs(),
        JWT_CACHE_SIZE="0",
        JWT_LEEWAY_SECONDS=str(LEEWAY),
        JWT_ALGORITHMS=",".join(ALGORITHMS),
    )


ORACLE_KEYS = KeySet.import_key_set({"keys": jwks(*TRUSTED)["keys"]})  # what the key server publishes


def oracle_accepts(token: str) -> bool:
    registry = jwt.JWTClaimsRegistry(
        now=NOW,
        leeway=LEEWAY,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True},
        exp={"essential": True},
    )
    try:
        decoded = jwt.decode(token, ORACLE_KEYS, algorithms=ALGORITHMS)
        registry.validate(decoded.claims)
    except (JoseError, ValueError, KeyError, TypeError):
        return False
    return True


any_time = st.one_of(
    st.integers(min_value=-7200, max_value=7200).map(lambda offset: NOW + offset),
    st.sampled_from([NOW - LEEWAY, NOW + LEEWAY, NOW - LEEWAY - 1, NOW + LEEWAY + 1, NOW]),
)
past = st.integers(min_value=-7200, max_value=0).map(lambda offset: NOW + offset)
MUTATIONS = [
    "untrusted_signer",
    "other_trusted_kid",
    "unknown_kid",
    "issuer",
    "audience",
    "exp",
    "nbf",
    "iat",
    "no_exp",
    "no_sub",
    "payload_swap",
    "signature",
]


@st.composite
def tokens(draw: st.DrawFn) -> str:
    """A valid token, then zero to two mutations, each of which may or may not invalidate it."""
    mutations = draw(st.one_of(st.just(set()), st.sets(st.sampled_from(MUTATIONS), min_size=1, max_size=2)))
    signer = draw(st.sampled_from(TRUSTED))
    if "untrusted_signer" in mutations:
        signer = draw(st.sampled_from(["rsa-2", "es256-2"]))
    alg = draw(st.sampled_from(ALGS_FOR[signer.split("-")[0]]))
    kid = signer.replace("-2", "-1")
    if "other_trusted_kid" in mutations:
        kid = draw(st.sampled_from(TRUSTED))
    if "unknown_kid" in mutations:
        kid = "unknown"
    payload = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": draw(st.sampled_from([AUDIENCE, [AUDIENCE], ["other", AUDIENCE]])),
        "exp": NOW + draw(st.integers(min_value=LEEWAY, max_value=7200)),
        "iat": draw(past),
        "nbf": draw(past),
        "scope": "a b",
    }
    if "issuer" in mutations:
        payload["iss"] = draw(st.sampled_from([ISSUER + "/", "https://other.test", ISSUER.upper()]))
    if "audience" in mutations:
        payload["aud"] = draw(st.sampled_from(["other", ["other"], [], AUDIENCE + " "]))
    for claim in ("exp", "nbf", "iat"):
        if claim in mutations:
            payload[claim] = draw(any_time)
    if "no_exp" in mutations:
        del payload["exp"]
    if "no_sub" in mutations:
        del payload["sub"]
    token = mint(signer, payload, alg=alg, kid=kid)
    h, p, s = token.split(".")
    if "payload_swap" in mutations:
        p = mint(signer, dict(payload, sub="admin"), alg=alg, kid=kid).split(".")[1]
    if "signature" in mutations:
        return tamper(f"{h}.{p}.{s}")
    return f"{h}.{p}.{s}"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], max_examples=250, deadline=None)
@given(tokens())
def test_fastauthz_and_joserfc_agree_on_accept_and_reject(fastauthz: Authorizer, token: str) -> None:
    ours = outcome(fastauthz, connect_event(token))[0] == "allow"
    event("accepted" if ours else "rejected")
    assert ours == oracle_accepts(token), token


def test_the_generated_domain_contains_both_accepts_and_rejects(fastauthz: Authorizer) -> None:
    good = mint("rsa-1", {"iss": ISSUER, "sub": "u", "aud": AUDIENCE, "exp": NOW + 60})
    assert oracle_accepts(good) and outcome(fastauthz, connect_event(good))[0] == "allow"
    bad = mint("rsa-2", {"iss": ISSUER, "sub": "u", "aud": AUDIENCE, "exp": NOW + 60}, kid="rsa-1")
    assert not oracle_accepts(bad) and outcome(fastauthz, connect_event(bad))[0] == "unauthorized"
    assert key("rsa-2") is not key("rsa-1")
