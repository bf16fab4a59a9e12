"""The Lambda zip for this machine's architecture, unpacked and run in an interpreter that sees
nothing but the zip and the standard library (as /var/task on Lambda)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from testkit.events import connect_event
from testkit.keys import jwks
from testkit.tokens import AUDIENCE, ISSUER, claims, mint
from tools.package import build, host_arch

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

PROBE = r"""
import json, os, sys, sysconfig
task = sys.argv[1]
sys.path[:] = [task] + [p for p in sys.path if p.startswith(sysconfig.get_paths()["stdlib"]) or "lib-dynload" in p]
from fastauthz.handler import handler
result = handler(json.loads(os.environ["EVENT"]), None)
stdlib = sysconfig.get_paths()["stdlib"]
outside = sorted(name for name, module in list(sys.modules.items())
                 if getattr(module, "__file__", None) and not module.__file__.startswith((task, stdlib)))
token_pyc = sys.modules["fastauthz.token"].__spec__.cached
with open(token_pyc, "rb") as handle:
    flags = int.from_bytes(handle.read(8)[4:8], "little")
print(json.dumps({"effect": result["policyDocument"]["Statement"][0]["Effect"], "outside": outside,
                  "pyc_flags": flags, "http_client": any(m in sys.modules for m in ("socket", "ssl"))}))
"""


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    zip_path, _ = build(host_arch(), VERSION, out, work=out)
    return zip_path


def test_the_zip_holds_the_runtime_dependencies_compiled_and_no_tooling(lambda_zip: Path) -> None:
    names = zipfile.ZipFile(lambda_zip).namelist()
    assert "fastauthz/handler.py" in names and not any(n.startswith("fastauthz/dev/") for n in names)
    assert any(n.startswith("cryptography/") for n in names)
    assert not any(n.startswith("orjson/") for n in names)  # JSON comes from the standard library (strictjson.py)
    assert not any(n.startswith("urllib3/") for n in names)  # key fetching needs only the standard library
    assert not any(n.startswith(("joserfc/", "websockets/", "pytest/")) for n in names)
    assert f"fastauthz/__pycache__/handler.cpython-{VERSION.replace('.', '')}.pyc" in names


def test_the_unpacked_zip_runs_the_handler_in_an_isolated_interpreter(lambda_zip: Path, tmp_path: Path) -> None:
    task = tmp_path / "task"
    zipfile.ZipFile(lambda_zip).extractall(task)
    (task / "jwks.json").write_text(json.dumps(jwks("rsa-1")))
    import time

    now = int(time.time())
    event = connect_event(mint("rsa-1", claims(iat=now - 5, exp=now + 300)))
    env = {
        "JWT_ISSUER_JWKS_URI": f"file://{task / 'jwks.json'}",
        "JWT_ISSUER": ISSUER,
        "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
        "EVENT": json.dumps(event),
        "PATH": "/usr/bin:/bin",
        "LOG_LEVEL": "WARN",
    }
    completed = subprocess.run(
        [sys.executable, "-S", "-E", "-s", "-B", "-c", PROBE, str(task)], env=env, capture_output=True, text=True, check=True
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["effect"] == "Allow"
    assert report["outside"] == []  # nothing from this machine's site-packages
    assert report["pyc_flags"] == 0b01  # hash-based, unchecked: zip mtimes cannot invalidate it
    assert report["http_client"] is False  # file:// keys: no socket, ssl or HTTP client on the cold path


def test_the_layer_holds_the_same_tree_under_python(tmp_path: Path) -> None:
    zip_path, _ = build(host_arch(), VERSION, tmp_path, work=tmp_path, layer=True)
    names = zipfile.ZipFile(zip_path).namelist()
    assert zip_path.name.startswith("fastauthz-layer-") and all(n.startswith("python/") for n in names)
    assert "python/fastauthz/handler.py" in names and any(n.startswith("python/cryptography/") for n in names)


RUNTIMES = ("3.11", "3.12", "3.13")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """One zip per (runtime, architecture), built as `make package PYTHON_VERSION=…` builds it."""
    from tools.package import MACHINES

    zips: dict[tuple[str, str], Path] = {}

    def build_for(version: str, arch: str) -> Path:
        if (version, arch) not in zips:
            out = tmp_path_factory.mktemp(f"dist-{version}-{arch}")
            try:
                zips[version, arch] = build(arch, version, out, work=out)[0]
            except SystemExit as missing:  # no pythonX.Y here to compile its bytecode
                pytest.skip(f"python{version}: {missing}")
        return zips[version, arch]

    assert set(MACHINES) == {"x86_64", "arm64"}
    return build_for


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
@pytest.mark.parametrize("version", RUNTIMES)
def test_every_shared_object_loads_on_the_runtimes_glibc(built: Callable[[str, str], Path], version: str, arch: str) -> None:
    """python3.9-3.11 run on Amazon Linux 2 (glibc 2.26), 3.12+ on Amazon Linux 2023 (2.34)."""
    from tools.package import inspect_zip, runtime_glibc

    found = inspect_zip(built(version, arch))
    assert found["glibc"] <= runtime_glibc(version), f"needs GLIBC_{found['glibc'][0]}.{found['glibc'][1]}"
    assert found["architectures"] == {arch} and found["pythons"] == {version}


def test_the_runtimes_glibc() -> None:
    from tools.package import platform_tags, runtime_glibc

    assert runtime_glibc("3.9") == runtime_glibc("3.11") == (2, 26)
    assert runtime_glibc("3.12") == runtime_glibc("3.13") == (2, 34)
    assert "manylinux_2_28_x86_64" not in platform_tags("x86_64", "3.11")
    assert platform_tags("arm64", "3.11")[0] == "manylinux_2_26_aarch64" and "manylinux2014_aarch64" in platform_tags("arm64", "3.11")
    assert platform_tags("x86_64", "3.12")[0] == "manylinux_2_34_x86_64"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_two_builds_of_the_same_commit_are_the_same_bytes(built: Callable[[str, str], Path], tmp_path: Path, arch: str) -> None:
    import hashlib

    first = built(VERSION, arch)
    second = build(arch, VERSION, tmp_path, work=tmp_path)[0]
    assert hashlib.sha256(first.read_bytes()).hexdigest() == hashlib.sha256(second.read_bytes()).hexdigest()
    handler_pyc = zipfile.ZipFile(first).read(f"fastauthz/__pycache__/handler.cpython-{VERSION.replace('.', '')}.pyc")
    assert b"/var/task/fastauthz/handler.py" in handler_pyc and str(tmp_path).encode() not in handler_pyc


@pytest.mark.slow
def test_the_reproducibility_check_catches_bytecode_that_embeds_the_build_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """make deploy-check builds twice (package --verify-reproducible); with the old compile step
    (no -s/-p: every .pyc records its temporary build path) the two builds differ."""
    import subprocess as run

    from tools import package

    def old_compile(target: Path, python: str, installed_at: str) -> None:
        run.run([python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(target)], check=True)

    monkeypatch.setattr(package, "compile_bytecode", old_compile)
    first = build("arm64", VERSION, tmp_path, work=tmp_path)[0]
    assert package.same_bytes_again(first, "arm64", VERSION, None, False) is False
    assert "NOT reproducible" in capsys.readouterr().err
