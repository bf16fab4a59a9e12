"""Cold start: fresh interpreters, scenarios interleaved run by run, medians.

Each run is a new process answering one `$connect` (an Allow); the parent times process start to
exit, the child reports import, init and first-decision times and its peak RSS. Scenarios:

  floor                   only imports orjson and cryptography's asymmetric modules
  fastauthz file keys     keys from file://; bytecode compiled (as `make package` ships it)
  fastauthz URL keys      keys fetched from a JWKS server on 127.0.0.1 at init
  fastauthz no .pyc       file keys, every module compiled from source (a zip without bytecode)
  PyJWT authorizer        jwt.PyJWKSet from the file + jwt.decode, the same policy
  python-jose authorizer  jose.jwt.decode with the JWKS, the same policy

    python -m bench.coldstart [--runs N] [--json PATH] [--only floor,fastauthz-file]
"""

from __future__ import annotations

import argparse
import compileall
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
from bench.peers import JwksServer

ROOT = Path(__file__).resolve().parents[1]
# Peak RSS from VmHWM: ru_maxrss would include the forked parent's pages from before exec.
REPORT = (
    "import json as _j\n"
    "_hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
    "print(_j.dumps({'import_ms': (t1 - t0) * 1000, 'init_ms': (t2 - t1) * 1000, 'first_ms': (t3 - t2) * 1000,"
    " 'rss_mb': _hwm / 1024}))\n"
)
FLOOR = (
    "import time; t0 = time.perf_counter()\n"
    "import orjson\n"
    "from cryptography.hazmat.primitives.asymmetric import ec, ed25519, ed448, padding, rsa, utils\n"
    "from cryptography.hazmat.primitives import hashes\n"
    "t1 = t2 = t3 = time.perf_counter()\n" + REPORT
)
FASTAUTHZ = (
    "import time; t0 = time.perf_counter()\n"
    "import json, os\n"
    "from fastauthz.authorizer import Authorizer\n"
    "from fastauthz.config import load_settings\n"
    "t1 = time.perf_counter()\n"
    "authorizer = Authorizer(load_settings())  # what fastauthz.handler does at import\n"
    "t2 = time.perf_counter()\n"
    "result = authorizer.handle(json.loads(os.environ['BENCH_EVENT']))\n"
    "assert result['policyDocument']['Statement'][0]['Effect'] == 'Allow'\n"
    "t3 = time.perf_counter()\n" + REPORT
)
PYJWT = (
    "import time; t0 = time.perf_counter()\n"
    "import json, os, jwt\n"
    "t1 = time.perf_counter()\n"
    "keys = jwt.PyJWKSet.from_json(open(os.environ['JWKS_FILE']).read())\n"
    "t2 = time.perf_counter()\n"
    "event = json.loads(os.environ['BENCH_EVENT'])\n"
    "token = event['headers']['Authorization'][7:]\n"
    "kid = jwt.get_unverified_header(token)['kid']\n"
    "claims = jwt.decode(token, keys[kid].key, algorithms=['RS256'], audience=os.environ['JWT_AUTHORIZED_AUDIENCES'],\n"
    "                    issuer=os.environ['JWT_ISSUER'], options={'require': ['exp', 'iss', 'aud', 'sub']})\n"
    "policy = {'principalId': claims['sub'], 'policyDocument': {'Version': '2012-10-17', 'Statement': [{'Action': 'execute-api:Invoke', 'Effect': 'Allow', 'Resource': event['methodArn']}]}}\n"
    "t3 = time.perf_counter()\n" + REPORT
)
JOSE = (
    "import time; t0 = time.perf_counter()\n"
    "import json, os\n"
    "from jose import jwt\n"
    "t1 = time.perf_counter()\n"
    "jwks = json.load(open(os.environ['JWKS_FILE']))\n"
    "t2 = time.perf_counter()\n"
    "event = json.loads(os.environ['BENCH_EVENT'])\n"
    "claims = jwt.decode(event['headers']['Authorization'][7:], jwks, algorithms=['RS256'],\n"
    "                    audience=os.environ['JWT_AUTHORIZED_AUDIENCES'], issuer=os.environ['JWT_ISSUER'])\n"
    "policy = {'principalId': claims['sub'], 'policyDocument': {'Version': '2012-10-17', 'Statement': [{'Action': 'execute-api:Invoke', 'Effect': 'Allow', 'Resource': event['methodArn']}]}}\n"
    "t3 = time.perf_counter()\n" + REPORT
)


def run_once(code: str, env: dict[str, str], flags: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, *flags, "-c", code], env=env, check=True, capture_output=True, text=True, cwd=ROOT)
    wall = (time.perf_counter() - started) * 1000
    report: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    report["wall_ms"] = wall
    return report


def scenarios(directory: Path, event: dict[str, Any], server: JwksServer) -> dict[str, tuple[str, dict[str, str], list[str]]]:
    base = {**os.environ, "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE, "FASTAUTHZ_METRICS": "false",
            "LOG_LEVEL": "WARN", "BENCH_EVENT": json.dumps(event), "JWKS_FILE": str(directory / "jwks.json"),
            "PYTHONPATH": str(ROOT)}
    file_keys = {**base, "JWT_ISSUER_JWKS_URI": f"file://{directory / 'jwks.json'}"}
    no_pyc = {**file_keys, "PYTHONPYCACHEPREFIX": str(directory / "no-pyc")}  # no cached bytecode anywhere: all compiled
    return {
        "floor": (FLOOR, base, []),
        "fastauthz file keys": (FASTAUTHZ, file_keys, []),
        "fastauthz URL keys": (FASTAUTHZ, {**base, "JWT_ISSUER_JWKS_URI": server.url}, []),
        "fastauthz no .pyc": (FASTAUTHZ, no_pyc, ["-B"]),
        "PyJWT authorizer": (PYJWT, base, []),
        "python-jose authorizer": (JOSE, base, []),
    }


def measure(runs: int, only: list[str] | None = None) -> dict[str, Any]:
    # A Lambda package ships compiled bytecode (make package); so do the installed libraries here.
    compileall.compile_dir(str(ROOT / "fastauthz"), quiet=1)
    case = Case("RS256-2048", count=1)
    directory = Path(tempfile.mkdtemp(prefix="fastauthz-cold-"))
    (directory / "jwks.json").write_text(json.dumps(case.jwks()))
    server = JwksServer(case.jwks())
    chosen = {name: spec for name, spec in scenarios(directory, case.events[0], server).items() if not only or name in only or name == "floor"}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in chosen}
    names = list(chosen)
    for index in range(runs):
        order = names if index % 2 == 0 else names[::-1]  # interleaved, alternating order
        for name in order:
            code, env, flags = chosen[name]
            results[name].append(run_once(code, env, flags))
    floor_walls = [r["wall_ms"] for r in results["floor"]]
    summary: dict[str, Any] = {"runs": runs, "python": sys.version.split()[0], "scenarios": {}}
    for name, reports in results.items():
        walls = [r["wall_ms"] for r in reports]
        summary["scenarios"][name] = {
            "wall_ms": statistics.median(walls),
            "ratio_to_floor": statistics.median(w / f for w, f in zip(walls, floor_walls, strict=True)),
            **{key: statistics.median(r[key] for r in reports) for key in ("import_ms", "init_ms", "first_ms", "rss_mb")},
        }
    return summary


def table(summary: dict[str, Any]) -> str:
    rows = ["| scenario | process start → first Allow | ratio to floor | import | init | first decision | peak RSS |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, s in summary["scenarios"].items():
        rows.append(f"| {name} | {s['wall_ms']:.1f} ms | {s['ratio_to_floor']:.3f} | {s['import_ms']:.1f} ms | {s['init_ms']:.1f} ms | "
                    f"{s['first_ms']:.1f} ms | {s['rss_mb']:.1f} MB |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--json", help="write the summary here")
    parser.add_argument("--only", help="comma list of scenarios (the floor always runs)")
    args = parser.parse_args(argv)
    summary = measure(args.runs, args.only.split(",") if args.only else None)
    print(f"cold start, {args.runs} interleaved runs per scenario (medians):\n{table(summary)}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
