"""The process the instruction gate (bench/gate.py) runs under valgrind: one case, N calls.

    python -S -m bench.workload CASE CALLS

Every run does the same set-up whatever CASE and CALLS are (read the committed fixtures, import
the real handler, build every case's events, warm every case up, fill both token caches as in
steady state), then calls CASE's function CALLS times and leaves at once with os._exit (no
teardown to count). Nothing random, no threads, no network, PYTHONHASHSEED fixed by the gate: the
same CALLS give the same count to a few hundred instructions.

The gate takes instructions per call as the increment over a window of steady calls,
(count with LEAD_IN + WINDOW calls - count with LEAD_IN calls) / WINDOW, not as
(count with N - count with 0) / N: the first calls after set-up can include one-off work whose
size depends on where objects happen to sit in memory (measured: up to 1.4 million instructions,
moved by an unrelated code change), which would leak into every figure as 1.4M / N.

It imports only what the Lambda function has (the handler, cryptography) plus the
standard library: the tooling that minted the fixtures (joserfc) never loads here.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testkit.events import api_event, connect_event

if TYPE_CHECKING:
    from fastauthz.authorizer import Authorizer

ROOT = Path(__file__).absolute().parents[1]  # as imported (the gate imports it through fixed paths)
FIXTURES = ROOT / "bench" / "fixtures"
OTHER_METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:otherapi01/prod/$connect"
ALGORITHMS = {"RS256-2048": "RS256", "PS256": "PS256", "ES256": "ES256", "EdDSA": "EdDSA"}
# The gate's cache size: its oldest eighth (128 entries) is evicted on the first fresh token after
# set-up and on every 128th after it, so a window of 128 calls pays exactly one eviction, the share
# it pays in steady state (the rejected-token cache also holds 1024).
CACHE_SIZE = 1024
REFUSALS = ("malformed", "alg none", "expired", "wrong audience", "replayed refusal", "unknown kid in cooldown")
# Every case, in the order the gate reports them: the floors, then what the handler does.
CASES: tuple[str, ...] = (
    *(f"raw verify {name}" for name in ALGORITHMS),
    *(f"handler, fresh {name} token" for name in ALGORITHMS),
    "handler, repeated token (cache hit)",
    "handler, cache hit for another methodArn",
    # A hook that reads the event is asked on every event, cache hits included (#31): what that costs.
    "handler, cache hit with a per-event hook",
    *(f"handler, reject {label}" for label in REFUSALS),
    # The other front doors (their events, their answers): the same token work, another shape.
    "handler, REST TOKEN, fresh RS256-2048",
    "handler, HTTP API 2.0, fresh RS256-2048",
    "handler, HTTP API 2.0, cache hit",
)
EVENT_TEMPLATE_TOKEN_CASE = "RS256-2048"  # the token of the cold start's first Allow


def environment(fixtures: dict[str, Any]) -> dict[str, str]:
    """The function's configuration: defaults but for the issuer, its file:// keys and the cache size,
    plus GATE_AUTHORIZER_ENV (JSON, `make bench-check` --env: what a setting costs, not gated)."""
    return {
        "JWT_ISSUER": fixtures["issuer"],
        "JWT_ISSUER_JWKS_URI": f"file://{FIXTURES / 'jwks.json'}",
        "JWT_AUTHORIZED_AUDIENCES": fixtures["audience"],
        "JWT_CACHE_SIZE": str(CACHE_SIZE),
        "FASTAUTHZ_METRICS_INTERVAL_SECONDS": "3600",  # no flush inside a run: flushes are per minute, not per call
        **json.loads(os.environ.get("GATE_AUTHORIZER_ENV", "{}")),
    }


def cold_start_event(fixtures: dict[str, Any], token_case: str) -> dict[str, Any]:
    """The first `$connect` of a cold start: the first valid token of `token_case`."""
    return connect_event(fixtures["tokens"][token_case][0])


def floor_verifier(alg: str, jwk: dict[str, Any]) -> Callable[[bytes, bytes], None]:
    """verify(signature, signing_input) straight on a cryptography key object: nothing else. For
    ECDSA the JWS r||s to DER conversion stays in: cryptography cannot verify without it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    def number(name: str) -> int:
        return int.from_bytes(b64url_decode(jwk[name]), "big")

    digest: hashes.HashAlgorithm = {"384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[2:], hashes.SHA256())
    if jwk["kty"] == "RSA":
        rsa_key = rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
        pad = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size) if alg.startswith("PS") else padding.PKCS1v15()
        return lambda signature, data: rsa_key.verify(signature, data, pad, digest)
    if jwk["kty"] == "EC":
        curve, size = {"P-256": (ec.SECP256R1(), 32), "P-384": (ec.SECP384R1(), 48), "P-521": (ec.SECP521R1(), 66)}[jwk["crv"]]
        ec_key = ec.EllipticCurvePublicNumbers(number("x"), number("y"), curve).public_key()
        ecdsa = ec.ECDSA(digest)
        return lambda signature, data: ec_key.verify(
            encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")), data, ecdsa
        )
    return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"])).verify


def b64url_decode(text: str) -> bytes:
    """Not fastauthz.dev.tokens': that module imports joserfc, 300 M instructions of every counted
    process's start (the gate spent most of its time importing it)."""
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def floor(alg: str, jwk: dict[str, Any], tokens: list[str]) -> Callable[[int], None]:
    """run(index): the floor verify of tokens[index], its signature and signing input decoded beforehand."""
    verify = floor_verifier(alg, jwk)
    prepared = []
    for token in tokens:
        header, payload, signature = token.split(".")
        prepared.append((b64url_decode(signature), f"{header}.{payload}".encode()))

    def run(index: int) -> None:
        signature, data = prepared[index]
        verify(signature, data)

    return run


class Workload:
    """Every case's function `run(index)`, built the same way in every run; or, with `only`, the one
    case a counted process measures: building and warming every case cost each process ~650 M
    instructions (the events' deep copies, each case's warm-up calls, three caches filled), four
    times what the measured calls cost, and the gate's runs took minutes for it."""

    def __init__(self, only: str | None = None) -> None:
        fixtures = json.loads((FIXTURES / "tokens.json").read_bytes())
        self.count: int = fixtures["count"]
        self.warmup: int = fixtures["warmup"]
        tokens: dict[str, list[str]] = fixtures["tokens"]
        os.environ.update(environment(fixtures))
        from fastauthz import handler as entry  # the real entry point, built from the environment
        from fastauthz.authorizer import Authorizer

        def wanted(name: str) -> bool:
            return only is None or name == only

        self.authorizer = entry.authorizer
        handle = entry.handler
        self.authorizers = [self.authorizer]
        self.rotating = None
        if wanted("handler, reject unknown kid in cooldown"):
            self.rotating = Rotating(fixtures)
            self.authorizers.append(self.rotating.authorizer)
        self.hooked = None
        if wanted("handler, cache hit with a per-event hook"):
            self.hooked = Authorizer.from_env(
                {**environment(fixtures), "FASTAUTHZ_AUTHORIZE": "bench.hooks:stage_listed"}, write=sys.stdout.write
            )
            self.authorizers.append(self.hooked)
        jwks = {key["kid"]: key for key in json.loads((FIXTURES / "jwks.json").read_bytes())["keys"]}

        def events(name: str, method_arn: str | None = None) -> list[dict[str, Any]]:
            return [connect_event(token, method_arn=method_arn) for token in tokens[name]]

        self.cases: dict[str, Callable[[int], None]] = {}
        # What each handler case must answer, proved on its warm-up calls (not in the measured ones).
        self.expected: dict[str, tuple[Authorizer, str]] = {}
        self.checks: dict[str, Callable[[int], Any]] = {}

        def handler_case(
            name: str,
            call: Callable[[Any, Any], Any],
            make_events: Callable[[], list[dict[str, Any]]],
            expect: str,
            authorizer: Authorizer = self.authorizer,
        ) -> None:
            if not wanted(name):
                return
            built = make_events()

            def run(index: int) -> None:
                try:
                    call(built[index], None)
                except Exception:  # the refusal (checked by _warm_up)
                    pass

            self.cases[name] = run
            self.checks[name] = lambda index: call(built[index], None)
            self.expected[name] = (authorizer, expect)

        repeat = self.count + self.warmup
        for name, alg in ALGORITHMS.items():
            if wanted(f"raw verify {name}"):
                self.cases[f"raw verify {name}"] = floor(alg, jwks[f"gate-{name.lower()}"], tokens[name])
            handler_case(f"handler, fresh {name} token", handle, lambda name=name: events(name), "Allow")  # type: ignore[misc]
        first = tokens["RS256-2048"][0]
        handler_case("handler, repeated token (cache hit)", handle, lambda: [connect_event(first)] * repeat, "Allow")
        handler_case(
            "handler, cache hit for another methodArn",
            handle,
            lambda: [connect_event(first, method_arn=OTHER_METHOD_ARN)] * repeat,
            "Allow",
        )
        if self.hooked is not None:
            handler_case(
                "handler, cache hit with a per-event hook",
                self.hooked.handle,
                lambda: [connect_event(first)] * repeat,
                "Allow",
                self.hooked,
            )
        alg_none = ["eyJhbGciOiJub25lIn0." + token.split(".")[1] + "." for token in tokens["RS256-2048"]]
        refusals: dict[str, tuple[Callable[[], list[dict[str, Any]]], str]] = {
            # label: (its events, the reason the log line must give)
            "malformed": (lambda: [connect_event(f"not-a-token-{index}") for index in range(repeat)], "malformed"),
            "alg none": (lambda: [connect_event(token) for token in alg_none], "alg_not_allowed"),
            "expired": (lambda: events("expired"), "expired"),
            "wrong audience": (lambda: events("wrong audience"), "bad_audience"),
            "replayed refusal": (lambda: [connect_event(tokens["expired"][0])] * repeat, "expired"),
        }
        for label, (refused_events, reason) in refusals.items():
            handler_case(f"handler, reject {label}", handle, refused_events, reason)
        if self.rotating is not None:
            handler_case(
                "handler, reject unknown kid in cooldown",
                self.rotating.handler,
                lambda: events("unknown kid"),
                "unknown_kid",
                self.rotating.authorizer,
            )
        rsa_tokens = tokens["RS256-2048"]
        handler_case(
            "handler, REST TOKEN, fresh RS256-2048", handle, lambda: [api_event("rest-token", token) for token in rsa_tokens], "Allow"
        )
        handler_case(
            "handler, HTTP API 2.0, fresh RS256-2048", handle, lambda: [api_event("http-2.0", token) for token in rsa_tokens], "Allow"
        )
        handler_case("handler, HTTP API 2.0, cache hit", handle, lambda: [api_event("http-2.0", first)] * repeat, "Allow")
        if only is None:
            assert tuple(sorted(self.cases)) == tuple(sorted(CASES)), "CASES must name every case built here"
        self._warm_up()

    def _warm_up(self) -> None:
        """Each case's lazy first-time work (imports, specialised bytecode) on tokens never measured,
        and proof that each handler case answers what its name says."""
        for name, run in self.cases.items():
            for index in range(self.count, self.count + self.warmup):
                if name in self.checks:
                    self._check(name, index)
                else:
                    run(index)
        for authorizer in self.authorizers:
            saturate(authorizer)
        # The collector's work inside the measured calls must depend on those calls only, not on
        # how many objects the set-up made (which moves with any change to the code): start from
        # empty generations, with everything made so far frozen out of the collector's sight.
        gc.collect()
        gc.freeze()

    def _check(self, name: str, index: int) -> None:
        authorizer, expect = self.expected[name]
        lines: list[str] = []
        log_write = authorizer.log._write
        authorizer.log._write = lines.append
        try:
            result = self.checks[name](index)
        except Exception as error:
            if str(error) != "Unauthorized":
                raise
            reasons = [json.loads(line).get("reason") for line in lines]
            if expect not in reasons:
                raise AssertionError(f"{name}: refused with {reasons}, expected {expect}") from None
        else:
            effect = result["policyDocument"]["Statement"][0]["Effect"]
            if result["principalId"] == "unauthorized":  # FASTAUTHZ_REFUSE_WITH=deny: the refusal is a Deny
                effect = result["context"]["reason"]
            if effect != expect:
                raise AssertionError(f"{name}: {effect}, expected {expect}")
        finally:
            authorizer.log._write = log_write

    def run(self, case: str, calls: int) -> None:
        run = self.cases[case]
        for index in range(calls):
            run(index)


class Rotating:
    """A second function whose issuer's keys come from a URL: the one place an unknown kid makes a
    refetch, then a cooldown. The keys are installed as a completed fetch would install them, and
    the URL is loopback port 0, to which a connection is refused at once, so the one refetch (made by
    the first warm-up call) fails without a thread or a timeout, and the store cools down. The URL is
    a constant on purpose: an ephemeral port made it differ from run to run, and with it string
    hashes and the interned-string table, which moved later objects in memory and so CPython's
    method-cache collisions: some runs paid ~3,500 instructions more per call in unrelated cases."""

    def __init__(self, fixtures: dict[str, Any]) -> None:
        import time

        from fastauthz.authorizer import Authorizer
        from fastauthz.config import load_settings
        from fastauthz.keys import load_key_set

        uri = "http://127.0.0.1:0/jwks.json"  # refused at once; the same text in every run
        settings = load_settings(
            {
                "JWT_ISSUER": fixtures["url_issuer"],
                "JWT_ISSUER_JWKS_URI": uri,
                "JWT_AUTHORIZED_AUDIENCES": fixtures["audience"],
                "JWT_JWKS_TTL_SECONDS": "86400",
                "JWT_JWKS_COOLDOWN_SECONDS": "3600",
                "JWT_JWKS_TIMEOUT_SECONDS": "30",
                "JWT_CACHE_SIZE": str(CACHE_SIZE),
                "FASTAUTHZ_METRICS_INTERVAL_SECONDS": "3600",
                **json.loads(os.environ.get("GATE_AUTHORIZER_ENV", "{}")),
            }
        )
        self.authorizer = Authorizer(settings, load_keys=False, write=sys.stdout.write)  # as the handler's
        keystore = next(iter(self.authorizer.issuers.values())).keystore
        assert keystore is not None
        keystore.install(load_key_set((FIXTURES / "jwks.json").read_bytes()), time.time())
        self.handler = self.authorizer.handle  # what fastauthz.handler.handler is, on this authorizer


def saturate(authorizer: Authorizer) -> None:
    """Empty both token caches, then fill them to capacity with other tokens' entries, as they are
    after a while in production: every fresh token then pays for an eviction, as it does there
    (an empty cache would hide that cost)."""
    from fastauthz.cache import VerifiedEntry

    verified, rejected = authorizer.cache, authorizer.rejected
    verified.clear()
    rejected.clear()
    filler = VerifiedEntry(float("inf"), {}, None, "filler", {}, "", "https://filler.example", None, {}, None)
    verified.entries.update((f"filler-{index}", filler) for index in range(verified.size))
    rejected.entries.update((-index, (float("inf"), "malformed")) for index in range(1, rejected.size + 1))


def main(argv: list[str]) -> None:
    """CASE CALLS: build that case alone and run it CALLS times; `all` CALLS: build every case
    (proving each answers what its name says) and run each."""
    case, calls = argv[0], int(argv[1])
    if case != "all" and case not in CASES:
        sys.exit(f"unknown case {case!r}; cases: {', '.join(CASES)}")
    workload = Workload(None if case == "all" else case)
    for name in workload.cases if case == "all" else (case,):
        workload.run(name, calls)
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown: its cost would depend on what the calls left behind


if __name__ == "__main__":
    main(sys.argv[1:])
