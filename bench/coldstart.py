"""Cold start as Lambda has it: fresh processes, process start to first Allow, peers in the same run.

Each run is a new process answering one `$connect` with an Allow. The parent notes the moment it
spawns the child; the child reports the moment of its first Allow on the same clock (CLOCK_MONOTONIC)
and its peak RSS (VmHWM); the time to the child's exit is reported apart. Scenarios run interleaved,
in alternating order, and every figure is a median; ratios are taken run by run against the Node peer
with the same key source, in the same environment (`scenarios` says how it is kept fair).

  floor imports                   python -S, only json and cryptography's asymmetric modules
  fastauthz, file keys            the function code from `make package`'s zip, unpacked as Lambda
                                  does (python -S, the package directory on PYTHONPATH: no venv hooks);
                                  the fixtures' key set: one RSA, one EC and one Ed25519 key
  fastauthz, file keys, RSA only  the same key set without its EC and Ed25519 keys, as the big
                                  providers publish theirs
  fastauthz, snapshot             JWKS URL + the key set shipped as JWT_JWKS_SNAPSHOT
  fastauthz, JWKS URL             keys fetched over HTTPS from 127.0.0.1 (a throwaway CA)
  Node aws-jwt-verify, ...        bench/node/connect.js: file keys handed to `cacheJwks`, or the
                                  JWKS fetched over HTTPS
  PyJWT + PyJWKClient, JWKS URL   the plain Python authorizer, from the virtualenv
  ... after the runtime's imports the same fastauthz runs with awslambdaric's bootstrap imported
                                  first, timed from there: the marginal cost inside Lambda's runtime

    python -m bench.coldstart [--runs N] [--json PATH] [--only NAME,NAME]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench import harness
from testkit.events import connect_event
from testkit.server import KeyServer

ROOT = Path(__file__).resolve().parents[1]
NODE_PEER = ROOT / "bench" / "node"
FIXTURES = ROOT / "bench" / "fixtures"
PEAK_RSS = "next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024"
# Every child ends by printing one JSON line: its peak RSS and the moment of its first Allow on
# CLOCK_MONOTONIC (time.monotonic_ns here, process.hrtime.bigint in Node: the same clock), which the
# parent subtracts from the moment it spawned the child. Start to first Allow is what a connecting
# client waits for; the interpreter's teardown after it (a full collection and module cleanup in
# Python, 5-8 ms here) happens in no Lambda invocation, so it is reported apart ("until exit").
REPORT = "print(json.dumps({{'allow_ns': time.monotonic_ns(), 'rss_mb': {rss}{extra}}}))\n"  # the clock read first
FLOOR = (
    "import json, time\n"
    "from cryptography.hazmat.primitives.asymmetric import ec, ed25519, ed448, padding, rsa, utils\n"
    "from cryptography.hazmat.primitives import hashes\n" + REPORT.format(rss=PEAK_RSS, extra="")
)
# What Lambda's Python runtime does: import the handler module, then invoke it.
FASTAUTHZ = (
    "import os, time\n"
    "started = time.perf_counter()\n"
    "from fastauthz.handler import handler\n"
    "import json\n"
    "result = handler(json.loads(os.environ['BENCH_EVENT']), None)\n"
    "assert result['policyDocument']['Statement'][0]['Effect'] == 'Allow', result\n"
    + REPORT.format(rss=PEAK_RSS, extra=", 'in_process_ms': (time.perf_counter() - started) * 1000")
)
# awslambdaric's bootstrap imports first (json, re, enum, logging, threading, decimal, ...), then the
# same: the in-process time from `started` is fastauthz's marginal cost inside the runtime.
AFTER_RUNTIME = "import awslambdaric.bootstrap\n" + FASTAUTHZ
PYJWT = (
    "import json, os, time, jwt\n"
    "client = jwt.PyJWKClient(os.environ['JWKS_URI'])\n"
    "event = json.loads(os.environ['BENCH_EVENT'])\n"
    "token = event['headers']['Authorization'][7:]\n"
    "claims = jwt.decode(token, client.get_signing_key_from_jwt(token).key, algorithms=['RS256'],\n"
    "                    audience=os.environ['JWT_AUTHORIZED_AUDIENCES'], issuer=os.environ['JWT_ISSUER'],\n"
    "                    options={'require': ['exp', 'iss', 'aud', 'sub']})\n"
    "policy = {'principalId': claims['sub'], 'policyDocument': {'Version': '2012-10-17', 'Statement': [\n"
    "    {'Action': 'execute-api:Invoke', 'Effect': 'Allow', 'Resource': event['methodArn']}]}}\n" + REPORT.format(rss=PEAK_RSS, extra="")
)
NODE_SCENARIOS = ("Node aws-jwt-verify, file keys", "Node aws-jwt-verify, JWKS URL", "Node aws-jwt-verify, file keys, RSA only")
# Which Node scenario each scenario is compared with (same key source).
NODE_PEER_OF = {
    "fastauthz, file keys": NODE_SCENARIOS[0],
    "fastauthz, snapshot": NODE_SCENARIOS[0],
    "fastauthz, JWKS URL": NODE_SCENARIOS[1],
    "PyJWT + PyJWKClient, JWKS URL": NODE_SCENARIOS[1],
    "fastauthz, file keys, RSA only": NODE_SCENARIOS[2],
    "floor imports": NODE_SCENARIOS[0],
}


def key_server(directory: Path) -> KeyServer:
    """The fixtures' JWKS over HTTPS on 127.0.0.1, with a CA made for this run (its ca_file trusts it)."""
    return KeyServer(
        (FIXTURES / "jwks.json").read_bytes(),
        tls_directory=directory,
        headers={"Content-Type": "application/json", "Cache-Control": "max-age=3600"},
    )


def function_code(directory: Path) -> tuple[Path, str]:
    """The Lambda package for this interpreter, unpacked as Lambda unpacks it into /var/task."""
    from tools.package import build, host_arch

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    zip_path, _ = build(host_arch(), version, directory / "dist", work=directory)
    task = directory / "task"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    return task, zip_path.name


def node_peer() -> str | None:
    """Install the pinned Node peer (npm ci) when node and npm exist; None, with the reason printed, when not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        print("cold start: node/npm not found: the Node aws-jwt-verify peer is skipped", file=sys.stderr)
        return None
    if not (NODE_PEER / "node_modules" / "aws-jwt-verify").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_PEER, check=True)
    return node


def first_event() -> dict[str, Any]:
    fixtures = json.loads((FIXTURES / "tokens.json").read_text())
    return connect_event(fixtures["tokens"]["RS256-2048"][0])


# The variables that name a key source. Within a pair (a fastauthz scenario and its Node peer) the
# environments are identical apart from these: test_coldstart_symmetry holds every scenario to it.
KEY_SOURCE_VARIABLES = frozenset({"JWT_ISSUER_JWKS_URI", "JWT_JWKS_SNAPSHOT", "JWKS_FILE", "JWKS_URI"})


def trust_bundle(directory: Path, ca_file: Path) -> Path:
    """The system's CA bundle with the run's test CA appended: what Python's ssl loads in a deployment
    (the whole system store, 140-odd roots), plus the one root the local key server needs. A
    one-certificate SSL_CERT_FILE would spare Python a parse that Lambda makes it pay."""
    import ssl

    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    if not system.is_file():
        raise SystemExit(f"cold start: no system CA bundle at {system}: install ca-certificates")
    bundle = directory / "trust.pem"
    bundle.write_bytes(system.read_bytes().rstrip(b"\n") + b"\n" + ca_file.read_bytes())
    return bundle


def scenarios(task: Path, server: KeyServer, node: str | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each scenario's command and environment. One environment serves both sides of a pair:
    - CA trust as a deployment has it: Python's ssl loads SSL_CERT_FILE, the system bundle plus the
      test CA; Node adds the test CA (BENCH_CA_FILE) to its own root store in the fetcher's options,
      in the URL scenario only (connect.js). No process gets NODE_EXTRA_CA_CERTS, which makes Node
      parse its root store at start-up whether or not it opens a connection.
    - the same PATH, locale, time zone, event and claims for every process."""
    import sysconfig

    assert server.ca_file is not None, "the cold start's key server serves HTTPS"
    fixtures = json.loads((FIXTURES / "tokens.json").read_text())
    jwks_file = FIXTURES / "jwks.json"
    common = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "BENCH_EVENT": json.dumps(first_event()),
        "JWT_ISSUER": fixtures["issuer"],
        "JWT_AUTHORIZED_AUDIENCES": fixtures["audience"],
        "SSL_CERT_FILE": str(trust_bundle(Path(server.ca_file).parent, server.ca_file)),
        "BENCH_CA_FILE": str(server.ca_file),
        # -S and /var/task only, as in Lambda (Node ignores both)
        "PYTHONPATH": str(task),
        "LOG_LEVEL": "WARN",
    }
    file_keys = {**common, "JWT_ISSUER_JWKS_URI": f"file://{jwks_file}", "JWKS_FILE": str(jwks_file)}
    # The fixtures hold one key of each type (RSA, EC, Ed25519); Cognito, Auth0, Entra ID, Okta and
    # Google publish RSA keys only, and fastauthz imports a curve's module with its first key.
    rsa_file = Path(server.ca_file).parent / "jwks-rsa.json"
    rsa_file.write_text(json.dumps({"keys": [key for key in json.loads(jwks_file.read_text())["keys"] if key["kty"] == "RSA"]}))
    rsa_keys = {**common, "JWT_ISSUER_JWKS_URI": f"file://{rsa_file}", "JWKS_FILE": str(rsa_file)}
    snapshot = {**common, "JWT_ISSUER_JWKS_URI": server.url, "JWT_JWKS_SNAPSHOT": f"file://{jwks_file}", "JWKS_FILE": str(jwks_file)}
    url_keys = {**common, "JWT_ISSUER_JWKS_URI": server.url, "JWKS_URI": server.url}
    runtime_path = sysconfig.get_paths()["purelib"]  # where awslambdaric is (the managed runtime has it)
    after_runtime = {"PYTHONPATH": f"{task}{os.pathsep}{runtime_path}"}
    python = [sys.executable, "-S", "-c"]
    chosen: dict[str, tuple[list[str], dict[str, str]]] = {
        "floor imports": ([*python, FLOOR], file_keys),
        "fastauthz, file keys": ([*python, FASTAUTHZ], file_keys),
        "fastauthz, file keys, RSA only": ([*python, FASTAUTHZ], rsa_keys),
        "fastauthz, snapshot": ([*python, FASTAUTHZ], snapshot),
        "fastauthz, JWKS URL": ([*python, FASTAUTHZ], url_keys),
        "fastauthz, file keys, after the runtime's imports": ([*python, AFTER_RUNTIME], {**file_keys, **after_runtime}),
        "fastauthz, JWKS URL, after the runtime's imports": ([*python, AFTER_RUNTIME], {**url_keys, **after_runtime}),
        # the plain Python authorizer, from the virtualenv (site on: PyJWT is installed there)
        "PyJWT + PyJWKClient, JWKS URL": (
            [sys.executable, "-c", PYJWT],
            {name: value for name, value in url_keys.items() if name != "PYTHONPATH"},
        ),
    }
    if node is not None:
        script = str(NODE_PEER / "connect.js")
        chosen[NODE_SCENARIOS[0]] = ([node, script], file_keys)
        chosen[NODE_SCENARIOS[1]] = ([node, script], url_keys)
        chosen[NODE_SCENARIOS[2]] = ([node, script], rsa_keys)
    return chosen


def run_once(command: list[str], env: dict[str, str]) -> dict[str, float]:
    spawned = time.monotonic_ns()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    exited = time.monotonic_ns()
    if completed.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {completed.stderr[-1500:]}")
    child = json.loads(completed.stdout.strip().splitlines()[-1])
    report = {"wall_ms": (child["allow_ns"] - spawned) / 1e6, "exit_ms": (exited - spawned) / 1e6, "rss_mb": float(child["rss_mb"])}
    if "in_process_ms" in child:
        report["in_process_ms"] = float(child["in_process_ms"])
    return report


def measure(runs: int, only: list[str] | None = None) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="fastauthz-cold-"))
    node = node_peer()
    task, package = function_code(directory)
    server = key_server(directory)
    try:
        chosen = {
            name: spec
            for name, spec in scenarios(task, server, node).items()
            if not only or name in only or name in NODE_SCENARIOS or name == "floor imports"
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in chosen}
        names = list(chosen)
        for name in names:  # one untimed run each: page cache, npm's and pip's first-run work
            run_once(*chosen[name])
        for index in range(runs):
            for name in names if index % 2 == 0 else names[::-1]:
                results[name].append(run_once(*chosen[name]))
    finally:
        server.close()
        shutil.rmtree(directory, ignore_errors=True)
    summary: dict[str, Any] = {
        "runs": runs,
        "python": sys.version.split()[0],
        "package": package,
        "node": subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else None,
        "scenarios": {},
    }
    for name, reports in results.items():
        walls = [report["wall_ms"] for report in reports]
        row: dict[str, Any] = {
            "wall_ms": statistics.median(walls),
            "exit_ms": statistics.median(r["exit_ms"] for r in reports),
            "rss_mb": statistics.median(r["rss_mb"] for r in reports),
        }
        if "in_process_ms" in reports[0]:
            row["in_process_ms"] = statistics.median(r["in_process_ms"] for r in reports)
        peer = NODE_PEER_OF.get(name)
        if peer in results and peer != name:
            row["ratio_to_node"] = statistics.median(w / n["wall_ms"] for w, n in zip(walls, results[peer], strict=True))
            row["node_peer"] = peer
        summary["scenarios"][name] = row
    return summary


def table(summary: dict[str, Any]) -> str:
    rows = [
        "| scenario | process start → first Allow | × Node peer (same keys) | in-process (import → Allow) | peak RSS "
        "| × Node's RSS | until exit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in summary["scenarios"].items():
        ratio = f"{row['ratio_to_node']:.2f}" if "ratio_to_node" in row else "—"
        inside = f"{row['in_process_ms']:.1f} ms" if "in_process_ms" in row else "—"
        wall = "—" if "after the runtime" in name else f"{row['wall_ms']:.1f} ms"
        until_exit = "—" if "after the runtime" in name or "exit_ms" not in row else f"{row['exit_ms']:.1f} ms"
        peer = summary["scenarios"].get(row.get("node_peer", ""), {})
        rss_ratio = f"{row['rss_mb'] / peer['rss_mb']:.2f}" if peer.get("rss_mb") else "—"
        rows.append(f"| {name} | {wall} | {ratio} | {inside} | {row['rss_mb']:.1f} MiB | {rss_ratio} | {until_exit} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    return harness.main(
        __doc__,
        argv,
        lambda args: measure(args.runs, args.only.split(",") if args.only else None),
        lambda summary, args: (
            f"cold start, {args.runs} interleaved runs per scenario (medians), {summary['package']}, "
            f"node {summary['node']}:\n{table(summary)}"
        ),
        repeat=("--runs", 21),
        options=lambda parser: parser.add_argument("--only", help="comma list of scenarios (the floor and the Node peers always run)"),
    )


if __name__ == "__main__":
    sys.exit(main())
