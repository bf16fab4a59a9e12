"""Importing the handler with a file:// key set loads nothing the hot path does not use.

Deterministic where a timing is not: a fresh interpreter, the module list after import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testkit.keys import write_jwks
from testkit.tokens import AUDIENCE, ISSUER

FORBIDDEN = (
    "urllib3",
    "ssl",
    "_ssl",
    "socket",
    "http",
    "email",
    "joserfc",
    "fastauthz.dev",
    "logging",
    "threading",
    "hashlib",
    "hmac",
    "cryptography.x509",
    "locust",
    "websockets",
    "pytest",
    "hypothesis",
    # loaded only where configured: required claims or a hook (rules), derivation or discovery
    # (providers), an Origin allow-list (origins); asyncio only by averify's callers
    "fastauthz.rules",
    "fastauthz.providers",
    "fastauthz.origins",
    "asyncio",
    # the Lambda integrations around the authorizer (connection lifetime): never the authorizer's
    "fastauthz.connections",
    "boto3",
    "botocore",
)

PROBE = """
import json, sys
import fastauthz.handler
print(json.dumps(sorted(sys.modules)))
"""


def modules_after_import(env: dict[str, str]) -> list[str]:
    completed = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True, check=True)
    modules: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return modules


def test_importing_the_handler_with_file_keys_loads_no_network_tls_tooling_or_logging_modules(tmp_path: Path) -> None:
    env = {
        "JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1", "es256-1", "ed25519-1"),
        "JWT_ISSUER": ISSUER,
        "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
    }
    loaded = modules_after_import(env)
    offending = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert offending == []
    assert "fastauthz.authorizer" in loaded and "orjson" not in loaded  # 12-16 ms of cold start (strictjson.py)


def test_hmac_support_is_loaded_only_when_a_secret_is_configured(tmp_path: Path) -> None:
    env = {
        "JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"),
        "JWT_ISSUER": ISSUER,
        "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
        "JWT_HMAC_SECRET": "s" * 32,
    }
    assert "hmac" in modules_after_import(env)


def test_rules_and_providers_load_only_where_they_are_configured(tmp_path: Path) -> None:
    env = {
        "JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"),
        "JWT_ISSUER": ISSUER,
        "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
        "JWT_REQUIRED_CLAIMS": '{"tier": "gold"}',
    }
    assert "fastauthz.rules" in modules_after_import(env)
    # the issuer derived from a (loopback: nothing leaves this machine) key URL
    derived = {
        "JWT_ISSUER_JWKS_URI": "http://127.0.0.1:1/.well-known/jwks.json",
        "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
        "JWT_JWKS_TIMEOUT_SECONDS": "0.1",
        "JWT_ISSUER": "",
    }
    assert "fastauthz.providers" in modules_after_import(derived)


def test_an_rsa_only_key_set_loads_neither_ec_nor_edwards_curve_modules(tmp_path: Path) -> None:
    # Cognito, Auth0, Entra ID, Okta and Google publish RSA keys only: `ec` alone costs ~4 ms of cold start.
    rsa_only = modules_after_import(
        {"JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"), "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE}
    )
    curves = (
        "cryptography.hazmat.primitives.asymmetric.ec",
        "cryptography.hazmat.primitives.asymmetric.ed25519",
        "cryptography.hazmat.primitives.asymmetric.ed448",
    )
    assert not set(curves) & set(rsa_only)
    mixed = modules_after_import(
        {
            "JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1", "es256-1", "ed25519-1"),
            "JWT_ISSUER": ISSUER,
            "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
        }
    )
    assert set(curves[:2]) <= set(mixed)


def test_the_origin_check_loads_only_where_an_allow_list_is_configured(tmp_path: Path) -> None:
    env = {
        "JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"),
        "JWT_ISSUER": ISSUER,
        "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
        "JWT_ALLOWED_ORIGINS": "https://app.example.com",
    }
    assert "fastauthz.origins" in modules_after_import(env)
