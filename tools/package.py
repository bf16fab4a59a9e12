"""`make package`: Lambda zips for x86_64 and arm64, from manylinux wheels, with compiled bytecode.

    python -m tools.package [--arch x86_64 --arch arm64] [--python 3.12] [--snapshot URL|FILE] [--out dist]

- Only the runtime dependencies (cryptography and what it needs), fetched as
  manylinux wheels for the target architecture and Python (`pip --platform --only-binary`), so a
  zip built on a laptop carries the right binaries.
- `.pyc` compiled by an interpreter of the target version with `--invalidation-mode
  unchecked-hash`: zip archives keep mtimes at 2-second resolution, which would invalidate
  timestamp-based `.pyc` and make every cold start recompile (55-95 ms per library). The target
  Python defaults to the one running this script; another needs `pythonX.Y` on PATH (or pyenv).
- `fastauthz/dev/` (tooling) and `fastauthz/cdk.py` (for CDK apps) are left out; optionally a snapshot of the key set is added as
  `jwks-snapshot.json` (set JWT_JWKS_SNAPSHOT=/var/task/jwks-snapshot.json).
- Wheels chosen per target runtime: python3.9-3.11 run on Amazon Linux 2 (glibc 2.26), so their
  zips take manylinux wheels up to manylinux_2_26 only; 3.12 and later (Amazon Linux 2023, glibc
  2.34) up to manylinux_2_34. tests/integration/test_package.py reads the GLIBC_ versions every
  shared object needs.
- Reproducible: the same commit and inputs give the same bytes (sorted entries, fixed timestamps,
  bytecode with fixed source paths and hash seed), so Terraform's filebase64sha256 and SAM's
  CodeUri hash change only when the code does.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_REQUIREMENTS = ("cryptography>=42",)
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
# Lambda's Python runtimes: python3.9-3.11 run on Amazon Linux 2 (glibc 2.26), 3.12 and later on
# Amazon Linux 2023 (glibc 2.34). A wheel built for a newer glibc fails to load there.
AMAZON_LINUX_2_GLIBC = (2, 26)
AMAZON_LINUX_2023_GLIBC = (2, 34)
OLDEST_MANYLINUX_MINOR = 17  # manylinux2014


def runtime_glibc(version: str) -> tuple[int, int]:
    """The glibc of the Lambda runtime for Python `version` (X.Y)."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return AMAZON_LINUX_2_GLIBC if (major, minor) <= (3, 11) else AMAZON_LINUX_2023_GLIBC


def platform_tags(arch: str, version: str) -> list[str]:
    """The manylinux tags a wheel may carry to load on that runtime, newest first."""
    machine = MACHINES[arch]
    _, newest = runtime_glibc(version)
    return [f"manylinux_2_{minor}_{machine}" for minor in range(newest, OLDEST_MANYLINUX_MINOR - 1, -1)] + [f"manylinux2014_{machine}"]


ZIP_TIME = (2020, 1, 1, 0, 0, 0)
LEFT_OUT = ("__pycache__", "tests", "test")
NOT_IN_LAMBDA = ("dev", "cdk.py")  # the local stage and tooling; the CDK construct (a CDK app's, not a function's)


def host_arch() -> str:
    import platform

    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def find_python(version: str) -> str:
    """An interpreter of `version` (X.Y) to compile bytecode with."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidates = [shutil.which(f"python{version}"), *sorted(Path(os.path.expanduser("~/.pyenv/versions")).glob(f"{version}.*/bin/python"))]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        # A pyenv shim exists whether or not that version is installed: ask the interpreter itself.
        probe = subprocess.run([str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return str(candidate)
    raise SystemExit(f"--python {version}: no python{version} found to compile bytecode with (install it, or omit --python)")


def install_dependencies(target: Path, arch: str, version: str) -> None:
    platforms = [argument for platform in platform_tags(arch, version) for argument in ("--platform", platform)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            "--implementation",
            "cp",
            "--python-version",
            version,
            "--only-binary=:all:",
            *platforms,
            *RUNTIME_REQUIREMENTS,
        ],
        check=True,
    )


def copy_package(target: Path) -> None:
    source = ROOT / "fastauthz"
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if relative.parts[0] in NOT_IN_LAMBDA or any(part in LEFT_OUT for part in relative.parts) or path.suffix == ".pyc":
            continue
        destination = target / "fastauthz" / relative
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def prune(target: Path) -> None:
    for path in list(target.rglob("*")):
        if path.is_dir() and path.name in LEFT_OUT:
            shutil.rmtree(path, ignore_errors=True)
    for path in target.glob("bin"):
        shutil.rmtree(path, ignore_errors=True)


def compile_bytecode(target: Path, python: str, installed_at: str) -> None:
    """Bytecode that is the same on every build: source paths recorded as where Lambda unpacks the
    code (`-s`/`-p`: /var/task, or /opt/python for a layer) instead of this build's temporary
    directory, a fixed hash seed (frozenset constants are written in hash order), and one process
    compiling in a fixed order (marshal marks objects by reference count, which with parallel
    workers depends on which worker compiled what before: pycparser's parser differed)."""
    environ = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(
        [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "-s", str(target), "-p", installed_at, str(target)],
        check=True,
        env=environ,
    )


def add_snapshot(target: Path, source: str) -> int:
    """Ship `source`'s key set as jwks-snapshot.json. `source` is a key URL, a file, or an issuer
    whose key URL is derived or discovered as the handler does (SNAPSHOT=https://<issuer>)."""
    from fastauthz.keys import load_key_set

    body = fetch_key_set(source)
    keys = load_key_set(body)  # refuse to ship something that is not a usable key set
    (target / "jwks-snapshot.json").write_bytes(body)
    return len(keys)


def fetch_key_set(source: str) -> bytes:
    """The key document at `source`: a file, a key URL, or an issuer resolved as the handler
    resolves it (a known provider's key URL, else OIDC discovery)."""
    from fastauthz.errors import KeySetError
    from fastauthz.fetch import FetchError, fetch_document
    from fastauthz.keys import load_key_set
    from fastauthz.providers import discover_jwks_uri, key_url_for_issuer

    if not source.startswith(("http://", "https://")):
        return Path(source.removeprefix("file://")).read_bytes()
    key_url = key_url_for_issuer(source)
    if key_url is None:
        try:
            body = fetch_document(source, 10).body
            load_key_set(body)
            return body  # a key URL
        except (FetchError, KeySetError):
            key_url = discover_jwks_uri(source, 10)
    print(f"snapshot: {source} is an issuer; its keys are at {key_url}")
    return fetch_document(key_url, 10).body


ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}
_GLIBC_VERSION = re.compile(rb"GLIBC_2\.(\d+)\b")
_PYC_TAG = re.compile(r"\.cpython-(\d)(\d+)\.pyc$")


def inspect_zip(zip_path: Path) -> dict[str, Any]:
    """What a Lambda zip needs of its runtime: {"glibc": (2, N) the highest GLIBC_ version any
    shared object requires, "architectures": {"x86_64"|"arm64", ...} of its ELF files, "pythons":
    {"3.12", ...} of its bytecode}. Read from the bytes (the version names a shared object needs are
    strings in its dynamic string table), so it needs no binutils."""
    glibc, architectures, pythons = (2, 0), set(), set()
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            if match := _PYC_TAG.search(name):
                pythons.add(f"{match.group(1)}.{match.group(2)}")
            if not (name.endswith(".so") or ".so." in name):
                continue
            data = archive.read(name)
            if data[:4] != b"\x7fELF":
                continue
            architectures.add(ELF_MACHINES.get(int.from_bytes(data[18:20], "little"), f"machine {data[18]:#x}"))
            for found in _GLIBC_VERSION.finditer(data):
                glibc = max(glibc, (2, int(found.group(1))))
    return {"glibc": glibc, "architectures": architectures, "pythons": pythons}


def runtime_problems(zip_path: Path, runtime: str, architecture: str) -> list[str]:
    """Why a function zip or layer would not load on Lambda's `runtime` (pythonX.Y) and
    `architecture`: bytecode for another Python, shared objects for another machine or a newer glibc."""
    found = inspect_zip(zip_path)
    version = runtime.removeprefix("python")
    problems = []
    if version not in found["pythons"]:
        problems.append(f"bytecode for Python {sorted(found['pythons'])}, but the runtime is {runtime}")
    if found["architectures"] and found["architectures"] != {architecture}:
        problems.append(f"built for {sorted(found['architectures'])}, but the function runs on {architecture}")
    if version and found["glibc"] > runtime_glibc(version):
        needed, has = found["glibc"], runtime_glibc(version)
        problems.append(f"needs GLIBC_{needed[0]}.{needed[1]}, {runtime} has {has[0]}.{has[1]}")
    return problems


def write_zip(source: Path, zip_path: Path, prefix: str = "") -> None:
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(prefix + str(path.relative_to(source)), ZIP_TIME)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def build(
    arch: str, version: str, out: Path, snapshot: str | None = None, work: Path | None = None, layer: bool = False
) -> tuple[Path, dict[str, int]]:
    """Build one zip (a function package, or with `layer` a Lambda layer: the same tree under python/,
    which Lambda puts on sys.path from /opt/python); returns its path and the uncompressed size per entry."""
    python = find_python(version)
    staging = Path(tempfile.mkdtemp(prefix=f"fastauthz-{arch}-", dir=work))
    install_dependencies(staging, arch, version)
    copy_package(staging)
    prune(staging)
    if snapshot:
        add_snapshot(staging, snapshot)
    compile_bytecode(staging, python, "/opt/python" if layer else "/var/task")
    zip_path = out / f"fastauthz-{'layer' if layer else 'lambda'}-{arch}-py{version}.zip"
    write_zip(staging, zip_path, prefix="python/" if layer else "")
    sizes: dict[str, int] = {}
    for path in staging.rglob("*"):
        if path.is_file():
            top = path.relative_to(staging).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    shutil.rmtree(staging, ignore_errors=True)
    return zip_path, sizes


def same_bytes_again(zip_path: Path, arch: str, version: str, snapshot: str | None, layer: bool) -> bool:
    """Build the same zip again in another directory and compare: the same commit and inputs must give
    the same bytes, or every deploy of an unchanged commit redeploys the function."""
    import hashlib

    with tempfile.TemporaryDirectory(prefix="fastauthz-again-") as again:
        second, _ = build(arch, version, Path(again), snapshot, work=Path(again), layer=layer)
        first_hash, second_hash = (hashlib.sha256(path.read_bytes()).hexdigest() for path in (zip_path, second))
    if first_hash != second_hash:
        print(f"{zip_path.name}: NOT reproducible: a second build differs ({first_hash[:12]} != {second_hash[:12]})", file=sys.stderr)
        return False
    print(f"  reproducible: a second build has the same sha256 {first_hash[:12]}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", action="append", choices=sorted(MACHINES), help="repeatable; default: both")
    parser.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}", help="target Lambda runtime Python, X.Y")
    parser.add_argument("--snapshot", help="URL or file of the key set to ship as jwks-snapshot.json")
    parser.add_argument("--out", default=str(ROOT / "dist"))
    parser.add_argument("--layer", action="store_true", help="build Lambda layers (python/…) instead of function packages")
    parser.add_argument(
        "--verify-reproducible",
        action="store_true",
        help="build each zip a second time, elsewhere, and fail unless the bytes are the same (make deploy-check)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    for arch in args.arch or ["x86_64", "arm64"]:
        zip_path, sizes = build(arch, args.python, out, args.snapshot, layer=args.layer)
        total = sum(sizes.values())
        print(
            f"{zip_path.relative_to(ROOT) if zip_path.is_relative_to(ROOT) else zip_path}: runtime python{args.python}, {arch}, "
            f"{zip_path.stat().st_size / 1e6:.2f} MB zipped, {total / 1e6:.2f} MB unzipped (limit 250 MB)"
        )
        for name, size in sorted(sizes.items(), key=lambda item: -item[1])[:8]:
            print(f"  {size / 1e6:7.2f} MB  {name}")
        problems = runtime_problems(zip_path, f"python{args.python}", arch)
        for problem in problems:
            print(f"error: {zip_path.name}: {problem}", file=sys.stderr)
        if problems or (args.verify_reproducible and not same_bytes_again(zip_path, arch, args.python, args.snapshot, args.layer)):
            return 1
    print(f"handler: fastauthz.handler.handler   runtime: python{args.python}   (.pyc compiled, unchecked-hash)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
