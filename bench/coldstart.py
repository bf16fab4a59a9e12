"""Cold start: fresh interpreters, interleaved A/B, medians.

  floor      a process that only imports orjson and cryptography's asymmetric modules
  fastauthz  a process that imports fastauthz.handler (file:// keys) and answers one $connect: Allow

    python -m bench.coldstart [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cases import AUDIENCE, ISSUER, Case

FLOOR = (
    "import orjson\n"
    "from cryptography.hazmat.primitives.asymmetric import ec, ed25519, ed448, padding, rsa, utils\n"
    "from cryptography.hazmat.primitives import hashes\n"
)
FIRST_ALLOW = (
    "import json, os, sys\n"
    "from fastauthz.handler import handler\n"
    "event = json.loads(os.environ['BENCH_EVENT'])\n"
    "assert handler(event, None)['policyDocument']['Statement'][0]['Effect'] == 'Allow'\n"
)


def run_once(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(runs: int) -> dict[str, Any]:
    # A Lambda package ships compiled bytecode (make package); so do the installed libraries here.
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "fastauthz"), quiet=1)
    case = Case("RS256-2048", count=1)
    directory = Path(tempfile.mkdtemp(prefix="fastauthz-cold-"))
    (directory / "jwks.json").write_text(json.dumps(case.jwks()))
    env = {**os.environ, "JWT_ISSUER_JWKS_URI": f"file://{directory / 'jwks.json'}", "JWT_ISSUER": ISSUER,
           "JWT_AUTHORIZED_AUDIENCES": AUDIENCE, "FASTAUTHZ_METRICS": "false", "LOG_LEVEL": "WARN",
           "BENCH_EVENT": json.dumps(case.events[0])}
    floor, subject, ratios = [], [], []
    for index in range(runs):
        pair = [(FLOOR, floor), (FIRST_ALLOW, subject)]
        for code, into in (pair if index % 2 == 0 else pair[::-1]):
            into.append(run_once(code, env))
        ratios.append(subject[-1] / floor[-1])
    return {"runs": runs, "floor_ms": statistics.median(floor) * 1000, "first_allow_ms": statistics.median(subject) * 1000,
            "ratio": statistics.median(ratios)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    result = measure(args.runs)
    print(f"cold start, {result['runs']} interleaved runs: floor imports {result['floor_ms']:.1f} ms, "
          f"process start to first Allow {result['first_allow_ms']:.1f} ms, ratio {result['ratio']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
