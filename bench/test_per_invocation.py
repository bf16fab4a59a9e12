"""Per-invocation benchmarks (pytest-benchmark), peers in the same run, correctness recorded first.

    make bench            (or: pytest bench/test_per_invocation.py --benchmark-only)

Every timed call runs a batch of BATCH distinct tokens (extra_info["batch"]); bench/report.py
divides by it and compares each row with the floor of its group (raw `cryptography` verify of
the same tokens) measured in the same run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.cases import Case
from bench.peers import PEERS, accepts_and_refuses
from bench.workload import saturate
from fastauthz.dev.tokens import b64url, b64url_decode
from fastauthz.keys import load_key_set
from testkit.events import connect_event
from testkit.forgery import tamper
from testkit.server import KeyServer

BATCH = 100
# Rounds of the cases whose caches are refilled before each round (pytest-benchmark cannot
# calibrate a round count when a setup function runs between rounds).
SATURATED_ROUNDS = 200
ALGORITHMS = ["RS256-2048", "RS256-4096", "PS256", "ES256", "ES384", "EdDSA"]
_cases: dict[str, Case] = {}


def case_for(name: str) -> Case:
    if name not in _cases:
        _cases[name] = Case(name, count=BATCH)
    return _cases[name]


def batch(verify: Any, tokens: list[Any]) -> Any:
    def run() -> None:
        for token in tokens:
            verify(token)

    return run


def record(benchmark: Any, correct: bool, **info: Any) -> None:
    benchmark.extra_info.update({"batch": BATCH, "correct": correct, **info})


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_floor_raw_cryptography_verify(benchmark: Any, alg: str) -> None:
    case = case_for(alg)
    benchmark.group = f"verify {alg}"
    floor = case.floor()
    record(benchmark, True, role="floor")
    benchmark(batch(floor, list(range(BATCH))))


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_fastauthz_handler_fresh_tokens(benchmark: Any, alg: str) -> None:
    case = case_for(alg)
    benchmark.group = f"verify {alg}"
    authorizer = case.authorizer()
    events = case.events
    correct = authorizer.handle(events[0])["principalId"] == "user-0"
    tampered = connect_event(tamper(case.tokens[0]))
    try:
        authorizer.handle(tampered)
        correct = False
    except Exception:
        pass

    def run() -> None:
        for event in events:
            authorizer.handle(event)

    record(benchmark, correct, role="fastauthz")
    # Every token fresh, with the caches full as in steady state; the refill is not timed.
    benchmark.pedantic(run, setup=lambda: saturate(authorizer), rounds=SATURATED_ROUNDS, warmup_rounds=2)


@pytest.mark.parametrize("peer", list(PEERS))
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_peer_verify(benchmark: Any, alg: str, peer: str) -> None:
    case = case_for(alg)
    benchmark.group = f"verify {alg}"
    factory = PEERS[peer]
    verify = factory(case, KeyServer(case.jwks())) if "PyJWKClient" in peer else factory(case)
    if verify is None:
        pytest.skip(f"{peer} does not support {alg}")
    correct = accepts_and_refuses(verify, case)
    record(benchmark, correct, role="peer", peer=peer)
    benchmark(batch(verify, case.tokens))


def test_fastauthz_repeated_token(benchmark: Any) -> None:
    case = case_for("RS256-2048")
    benchmark.group = "handler $connect RS256-2048"
    authorizer = case.authorizer()
    event = case.events[0]
    record(benchmark, authorizer.handle(event)["principalId"] == "user-0", role="fastauthz", case="repeated token (cache hit)")
    benchmark(batch(lambda e: authorizer.handle(e), [event] * BATCH))


def test_floor_for_handler_group(benchmark: Any) -> None:
    case = case_for("RS256-2048")
    benchmark.group = "handler $connect RS256-2048"
    record(benchmark, True, role="floor")
    benchmark(batch(case.floor(), list(range(BATCH))))


REJECTS = ["malformed", "alg none", "expired", "wrong audience", "unknown kid in cooldown"]


def _reject_events(case: Case, label: str) -> list[dict[str, Any]]:
    if label == "malformed":
        return [connect_event(f"not-a-token-{i}") for i in range(BATCH)]
    if label == "alg none":
        return [connect_event("eyJhbGciOiJub25lIn0." + token.split(".")[1] + ".") for token in case.tokens]
    if label == "expired":
        return [connect_event(case.mint(sub=f"u{i}", exp=case.now - 3600)) for i in range(BATCH)]
    if label == "wrong audience":
        return [connect_event(case.mint(sub=f"u{i}", aud="someone-else")) for i in range(BATCH)]
    header = b64url(json.dumps({"alg": case.alg, "kid": "not-a-published-kid"}).encode())
    return [connect_event(f"{header}.{token.split('.', 1)[1]}") for token in case.tokens]


@pytest.mark.parametrize("label", REJECTS)
def test_fastauthz_early_reject(benchmark: Any, label: str) -> None:
    case = case_for("RS256-2048")
    benchmark.group = "early reject RS256-2048"
    authorizer = case.authorizer()
    events = _reject_events(case, label)
    authorizer.handle(case.events[0])  # warm; for unknown kids, the first refetch starts the cooldown
    refused = 0
    for event in events[:3]:
        try:
            authorizer.handle(event)
        except Exception:
            refused += 1

    def run() -> None:
        for event in events:
            try:
                authorizer.handle(event)
            except Exception:
                pass

    record(benchmark, refused == 3, role="fastauthz", case=label)
    # Distinct refusals each round (nothing remembered helps), caches full; the refill is not timed.
    benchmark.pedantic(run, setup=lambda: saturate(authorizer), rounds=SATURATED_ROUNDS, warmup_rounds=2)


def test_floor_for_reject_group(benchmark: Any) -> None:
    case = case_for("RS256-2048")
    benchmark.group = "early reject RS256-2048"
    record(benchmark, True, role="floor")
    benchmark(batch(case.floor(), list(range(BATCH))))


KEY_SET_SIZES = [4]


def _key_set_document() -> dict[str, Any]:
    keys = []
    for name in ("RS256-2048", "PS256", "ES256", "EdDSA"):
        keys.extend(case_for(name).jwks()["keys"])
    return {"keys": keys}


def test_key_set_import_fastauthz(benchmark: Any) -> None:
    document = json.dumps(_key_set_document()).encode()
    benchmark.group = "key-set import (4 keys)"
    record(benchmark, len(load_key_set(document)) == 4, role="fastauthz")
    benchmark(batch(load_key_set, [document] * BATCH))


def test_key_set_import_floor_cryptography(benchmark: Any) -> None:
    """The floor: cryptography key objects straight from the JWK numbers, nothing else."""

    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    document = json.dumps(_key_set_document()).encode()

    b64 = b64url_decode

    def raw_import(body: bytes) -> list[Any]:
        keys: list[Any] = []
        for jwk in json.loads(body)["keys"]:
            if jwk["kty"] == "RSA":
                keys.append(rsa.RSAPublicNumbers(int.from_bytes(b64(jwk["e"]), "big"), int.from_bytes(b64(jwk["n"]), "big")).public_key())
            elif jwk["kty"] == "EC":
                keys.append(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + b64(jwk["x"]) + b64(jwk["y"])))
            else:
                keys.append(ed25519.Ed25519PublicKey.from_public_bytes(b64(jwk["x"])))
        return keys

    benchmark.group = "key-set import (4 keys)"
    record(benchmark, len(raw_import(document)) == 4, role="floor")
    benchmark(batch(raw_import, [document] * BATCH))


def test_key_set_import_joserfc(benchmark: Any) -> None:
    from joserfc.jwk import KeySet, KeySetSerialization

    document: KeySetSerialization = {"keys": _key_set_document()["keys"]}
    benchmark.group = "key-set import (4 keys)"
    record(benchmark, len(KeySet.import_key_set(document).keys) == 4, role="peer", peer="joserfc (KeySet + claims registry)")
    benchmark(batch(KeySet.import_key_set, [document] * BATCH))


def test_key_set_import_pyjwt(benchmark: Any) -> None:
    import jwt

    document = _key_set_document()
    benchmark.group = "key-set import (4 keys)"
    record(benchmark, len(jwt.PyJWKSet.from_dict(document).keys) == 4, role="peer", peer="PyJWT (key object)")
    benchmark(batch(jwt.PyJWKSet.from_dict, [document] * BATCH))
