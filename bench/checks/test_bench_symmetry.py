"""The cold-start harness gives fastauthz and its Node peer the same conditions (bench/coldstart.py):
within a pair the environments differ only in the key source, CA trust is what a deployment has,
and nothing makes one side parse a CA store the other does not."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.coldstart import KEY_SOURCE_VARIABLES, NODE_PEER, NODE_PEER_OF, NODE_SCENARIOS, key_server, scenarios
from testkit.server import KeyServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyServer]:
    running = key_server(tmp_path_factory.mktemp("tls"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def chosen(server: KeyServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], dict[str, str]]]:
    return scenarios(tmp_path_factory.mktemp("task"), server, node="node")


def _without_key_source(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name not in KEY_SOURCE_VARIABLES}


def test_no_process_is_handed_node_extra_ca_certs(chosen: dict[str, tuple[list[str], dict[str, str]]]) -> None:
    for name, (_, env) in chosen.items():
        assert "NODE_EXTRA_CA_CERTS" not in env, name


def test_each_fastauthz_scenario_and_its_node_peer_differ_only_in_the_key_source(
    chosen: dict[str, tuple[list[str], dict[str, str]]],
) -> None:
    compared = 0
    for name, (_, env) in chosen.items():
        peer = NODE_PEER_OF.get(name)
        if peer is None or not name.startswith("fastauthz"):
            continue
        assert _without_key_source(env) == _without_key_source(chosen[peer][1]), name
        compared += 1
    assert compared == 4  # file keys (all key types, RSA only), snapshot, JWKS URL


def test_every_scenario_has_a_node_peer_or_is_a_node_peer(chosen: dict[str, tuple[list[str], dict[str, str]]]) -> None:
    for name in chosen:
        if "after the runtime's imports" in name:
            continue  # timed in-process from the runtime's imports, not against a process start
        assert name in NODE_SCENARIOS or NODE_PEER_OF.get(name) in NODE_SCENARIOS, name


def test_the_file_keys_pair_runs_in_one_environment(chosen: dict[str, tuple[list[str], dict[str, str]]]) -> None:
    assert chosen["fastauthz, file keys"][1] == chosen[NODE_SCENARIOS[0]][1]
    assert chosen["fastauthz, JWKS URL"][1] == chosen[NODE_SCENARIOS[1]][1]
    assert chosen["fastauthz, file keys, RSA only"][1] == chosen[NODE_SCENARIOS[2]][1]


def test_python_trusts_the_system_store_plus_the_test_ca(server: KeyServer, chosen: dict[str, tuple[list[str], dict[str, str]]]) -> None:
    assert server.ca_file is not None
    system = Path(ssl.get_default_verify_paths().openssl_cafile).read_bytes()
    for name, (_, env) in chosen.items():
        bundle = Path(env["SSL_CERT_FILE"]).read_bytes()
        assert bundle.startswith(system.rstrip(b"\n")), name
        assert bundle.endswith(server.ca_file.read_bytes()), name
        assert bundle.count(b"BEGIN CERTIFICATE") > 100, name  # the whole store, not one certificate


def test_node_adds_the_test_ca_to_its_own_roots_only_for_a_key_url() -> None:
    source = (NODE_PEER / "connect.js").read_text()
    assert '...require("tls").rootCertificates' in source
    assert "if (!process.env.JWKS_URI || !process.env.BENCH_CA_FILE) return undefined;" in source
