"""The environment a count belongs to: instruction counts are exact for one interpreter build, one
cryptography and OpenSSL, one valgrind and one architecture, and move when any of them does (3.12.1
counts unchanged code 0.5-8% away from 3.11.7). Budgets are recorded per fingerprint; figures of two
fingerprints are never compared (`python -m bench.gate --compare` refuses, saying what differs)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys


def fingerprint(valgrind: str | None) -> dict[str, str]:
    """What decides the counts, as text."""
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend

    version = ""
    if valgrind:
        version = subprocess.run([valgrind, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "python": platform.python_version(),
        "python_build": f"{platform.python_implementation()} {' '.join(platform.python_build())} {platform.python_compiler()}",
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        "valgrind": version,
        "machine": platform.machine(),
        "system": f"{platform.system()} {sys.platform}",
    }


def fingerprint_id(values: dict[str, str]) -> str:
    """A short, stable name for a fingerprint: budgets.toml's key."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def differences(first: dict[str, str], second: dict[str, str]) -> list[str]:
    """What differs between two fingerprints, one line each ("python: 3.11.7 != 3.12.1")."""
    return [
        f"{key}: {first.get(key, '-')} != {second.get(key, '-')}" for key in sorted({*first, *second}) if first.get(key) != second.get(key)
    ]


def describe(values: dict[str, str]) -> str:
    """One line: Python, cryptography/OpenSSL, valgrind, machine."""
    return f"Python {values.get('python')} ({values.get('machine')}), cryptography {values.get('cryptography')} / {values.get('openssl')}, {values.get('valgrind')}"
