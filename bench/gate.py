"""`make bench-check`: the CI regression gate, on instruction counts (exact), not seconds (noisy).

Each case runs in fresh interpreters under valgrind (`cachegrind --cache-sim=no`, which counts
instructions and nothing else) as `bench/workload.py CASE CALLS`, twice: with LEAD_IN calls and
with LEAD_IN + WINDOW calls. Instructions per call are the difference over WINDOW: set-up, imports,
start-up and the one-off work of the first calls cancel out (bench/workload.py says why). Each case is judged as a ratio to the raw `cryptography` verify of the same fixtures (counted
the same way), and the cold start (import + first Allow, whole process) as a ratio to a process
that only imports the floor's modules, against bench/budgets.toml: a case fails when its ratio is
more than `tolerance` above its baseline.

Why instructions: the same binary, inputs and environment execute the same instructions whatever
else the machine is doing, so two runs agree to about 0.001% where wall-clock ratios on a shared
2-core runner wander by 5-10%. What they miss: cache misses and branch mispredictions, which is why
`make bench` (seconds, peers in the same run) stays the report people read.

    python -m bench.gate              # check against bench/budgets.toml, write bench/results/check.json
    python -m bench.gate --baseline   # rewrite the baselines from this commit (after an intended change)
    python -m bench.gate --env FASTAUTHZ_REFUSE_WITH=deny   # what a setting costs: the same table, no verdict
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUDGETS = HERE / "budgets.toml"
RESULTS = HERE / "results" / "check.json"
DEFAULT_TOLERANCE = 0.02
RATIO_UNIT = "x raw verify (instructions per call)"
COLD_UNIT = "x floor imports (instructions per process)"
COLD_START = "cold start, import + first Allow"
# The floor of the cold start: what any Python authorizer on these libraries must import
# (cryptography's asymmetric modules, and json to read the event: Lambda's runtime has it loaded).
FLOOR_IMPORTS = (
    "import os, json\n"
    "from cryptography.hazmat.primitives.asymmetric import ec, ed25519, ed448, padding, rsa, utils\n"
    "from cryptography.hazmat.primitives import hashes\n"
    "os._exit(0)\n"
)
# What Lambda does at a cold start: import the handler module (which builds the authorizer from
# the environment and loads file:// keys), then the first invocation, an Allow.
FIRST_ALLOW = (
    "import os, json\n"
    "from fastauthz.handler import handler\n"
    "result = handler(json.loads(os.environ['GATE_EVENT']), None)\n"
    "assert result['policyDocument']['Statement'][0]['Effect'] == 'Allow', result\n"
    "os._exit(0)\n"
)
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
# Runs are made under `setarch -R` (no address-space randomisation), with valgrind's command line
# the same length in every run, and a case's figure is the first that two (lead-in, window) pairs
# agree on (AGREEMENT), after at most MAX_PAIRS. Why: where objects land in memory decides which
# attribute names collide in CPython's method cache, and a run that lands in a colliding layout pays
# up to ~12,000 instructions more per call in the cache-hit cases (callgrind: _Py_dict_lookup behind
# _PyType_Lookup). Randomised addresses and a log-file name of varying length were causes; with both
# fixed, about one process in eight still lands elsewhere (a seed inside the process: measured, not
# found). A pair with one such process gives a figure no other pair repeats, so two pairs that agree
# are, but for about one case in a thousand, two pairs in the common layout.
AGREEMENT = 0.002
MAX_PAIRS = 6


def floor_of(case: str) -> str:
    """The raw verify a case is compared with: its own algorithm's, else RS256's."""
    match = re.fullmatch(r"handler, fresh (.+) token", case)
    return f"raw verify {match.group(1) if match else 'RS256-2048'}"


# Where the measured processes see the checkout, its libraries and the interpreter, whatever the
# checkout's own location: the same paths in every run. Each path string a process allocates (sys.path,
# every module's __file__ and code objects' co_filename) shifts where later objects land, and so which
# names collide in CPython's method cache: measured, the same commit counted 18,987 instructions per
# HTTP API cache hit from /tmp/ci.Xl8F and 19,486 from /tmp/tmp.yqmkDyXztD, over its 2% limit.
STAGE = Path(tempfile.gettempdir()) / "fastauthz-gate"


class FixedPaths:
    """STAGE's symlinks to this checkout (code/), its libraries (purelib/, platlib/) and the base
    interpreter (bin/python: -S and PYTHONPATH make the virtualenv unnecessary, and sys.prefix is the
    base installation's, not the checkout's), held under a lock while a gate runs."""

    def __enter__(self) -> FixedPaths:
        import fcntl

        STAGE.mkdir(exist_ok=True)
        self._lock = (STAGE / ".lock").open("w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # another checkout's gate waits: the links are shared
        paths = sysconfig.get_paths()
        (STAGE / "bin").mkdir(exist_ok=True)
        links = {"code": ROOT, "purelib": Path(paths["purelib"]), "platlib": Path(paths["platlib"])}
        links["bin/python"] = Path(sys.executable).resolve()
        for name, target in links.items():
            link = STAGE / name
            link.unlink(missing_ok=True)
            link.symlink_to(target)
        self.code, self.python = STAGE / "code", STAGE / "bin" / "python"
        self.libraries = [str(STAGE / "purelib")] + ([str(STAGE / "platlib")] if paths["platlib"] != paths["purelib"] else [])
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.close()


class Counter:
    """Runs Python programs under cachegrind in a fixed, minimal environment and reads the count."""

    def __init__(self, valgrind: str, workdir: Path, paths: FixedPaths) -> None:
        self.valgrind = valgrind
        self.workdir = workdir
        self.paths = paths
        # -S: no site processing (no .pth hooks of the virtualenv); the code and the installed
        # libraries come from PYTHONPATH, as a Lambda function's come from /var/task.
        self.environ = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join([str(paths.code), *paths.libraries]),
        }
        self._runs = itertools.count(1)
        setarch = shutil.which("setarch")
        self.no_aslr = [setarch, platform.machine(), "-R"] if setarch else []

    def count(self, arguments: list[str], extra: dict[str, str] | None = None) -> int:
        # A fixed-width name: valgrind's own command line shapes where the client's memory lands.
        log = self.workdir / f"run-{next(self._runs):06d}.log"
        command = [
            *self.no_aslr,
            self.valgrind,
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            f"--log-file={log}",
            str(self.paths.python),
            "-S",
            *arguments,
        ]
        completed = subprocess.run(
            command,
            env={**self.environ, **(extra or {})},
            cwd=STAGE,  # not code/: the kernel resolves a working directory's symlinks, and -m puts it on sys.path
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,
            check=False,
        )
        report = log.read_text() if log.exists() else ""
        found = _REFS.search(report)
        if completed.returncode != 0 or found is None:
            raise RuntimeError(
                f"{' '.join(arguments)[:80]} failed (exit {completed.returncode}):\n{completed.stderr[-2000:]}\n{report[-1000:]}"
            )
        return int(found.group(1).replace(",", ""))


def measure(counter: Counter, jobs: int) -> dict[str, Any]:
    """{"per_call": {case: instructions}, "processes": {"floor imports": n, COLD_START: n}, "window": calls}."""
    sys.path.insert(0, str(ROOT))
    from bench.workload import CASES, EVENT_TEMPLATE_TOKEN_CASE, cold_start_event

    fixtures = json.loads((HERE / "fixtures" / "tokens.json").read_text())
    lead_in: int = fixtures["lead_in"]
    window: int = fixtures["window"]
    # Bytecode for everything the children import, so that no run compiles (and all runs agree), its
    # co_filename the path the children import it from (no fix-up at import: that allocates the old one).
    code = counter.paths.code
    for directory in (code / "fastauthz", code / "bench", code / "testkit"):  # the workload imports the test kit's events
        compileall.compile_dir(str(directory), quiet=1, force=True)
    for library in counter.paths.libraries:
        for package in ("cryptography", "joserfc"):
            if (Path(library) / package).is_dir():
                compileall.compile_dir(str(Path(library) / package), quiet=1, force=True)
    workload = ["-m", "bench.workload"]
    cold_env = {**cold_start_environment(fixtures), "GATE_EVENT": json.dumps(cold_start_event(fixtures, EVENT_TEMPLATE_TOKEN_CASE))}
    cold_env["JWT_ISSUER_JWKS_URI"] = cold_env["JWT_ISSUER_JWKS_URI"].replace(str(ROOT), str(code))  # the children's path

    def per_call(case: str) -> float:
        """Instructions per call over the window, the first figure two pairs agree on (see AGREEMENT)."""
        figures: list[float] = []
        while len(figures) < MAX_PAIRS:
            lead = counter.count([*workload, case, str(lead_in)])
            figure = (counter.count([*workload, case, str(lead_in + window)]) - lead) / window
            if any(abs(figure - seen) <= AGREEMENT * abs(seen) for seen in figures):
                return figure
            figures.append(figure)
        return statistics.median(figures)

    processes = {"floor imports": (["-c", FLOOR_IMPORTS], None), COLD_START: (["-c", FIRST_ALLOW], cold_env)}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        per_case = {case: pool.submit(per_call, case) for case in CASES}
        whole = {name: pool.submit(counter.count, arguments, extra) for name, (arguments, extra) in processes.items()}
        return {
            "window": window,
            "per_call": {case: future.result() for case, future in per_case.items()},
            "processes": {name: future.result() for name, future in whole.items()},
        }


def cold_start_environment(fixtures: dict[str, Any]) -> dict[str, str]:
    from bench.workload import environment

    return environment(fixtures)


def ratios(measured: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """{case: (ratio, unit)} for every gated case."""
    per_call = measured["per_call"]
    result = {case: (per_call[case] / per_call[floor_of(case)], RATIO_UNIT) for case in per_call if not case.startswith("raw verify")}
    processes = measured["processes"]
    result[COLD_START] = (processes[COLD_START] / processes["floor imports"], COLD_UNIT)
    return result


def judge(values: dict[str, tuple[float, str]], budgets: dict[str, Any]) -> dict[str, Any]:
    tolerance = float(budgets.get("tolerance", DEFAULT_TOLERANCE))
    baselines: dict[str, float] = budgets.get("baseline", {})
    cases: list[dict[str, Any]] = []
    for name, (value, unit) in values.items():
        baseline = baselines.get(name)
        # A case with no baseline yet fails: a new case is gated from the commit that adds it.
        limit = round(baseline * (1 + tolerance), 6) if baseline is not None else 0.0
        cases.append({"name": name, "value": round(value, 6), "limit": limit, "unit": unit})
    return {"ok": all(case["value"] <= case["limit"] for case in cases), "cases": cases}


def table(verdict: dict[str, Any], measured: dict[str, Any], budgets: dict[str, Any]) -> str:
    baselines = budgets.get("baseline", {})
    lines = [f"{'case':<44} {'instructions':>13} {'ratio':>8} {'baseline':>9} {'limit':>8}  verdict"]
    per_call = {**measured["per_call"], **measured["processes"]}
    for case in verdict["cases"]:
        name = case["name"]
        baseline = baselines.get(name)
        verdict_word = "ok" if case["value"] <= case["limit"] else ("FAIL: no baseline" if baseline is None else "FAIL: over its limit")
        lines.append(
            f"{name:<44} {per_call[name]:>13,.0f} {case['value']:>8.4f} {baseline if baseline is not None else '—':>9} "
            f"{case['limit']:>8.4f}  {verdict_word}"
        )
    for name, value in measured["per_call"].items():
        if name.startswith("raw verify"):
            lines.append(f"{name:<44} {value:>13,.0f} {'(floor)':>8}")
    lines.append(f"{'floor imports':<44} {measured['processes']['floor imports']:>13,} {'(floor)':>8}")
    return "\n".join(lines)


def ratchet(values: dict[str, tuple[float, str]], baselines: dict[str, float]) -> dict[str, tuple[float, str]]:
    """The baselines `make bench-baseline` writes: each case's lower of its committed baseline and
    this commit's ratio, so budgets move down when a change wins and never up (a new case takes its
    first ratio). A cost that must rise is raised in budgets.toml by hand, its reason in the commit;
    new fixtures or a new runner image start over (`--baseline --reset`)."""
    return {name: (min(value, baselines.get(name, value)), unit) for name, (value, unit) in values.items()}


def write_budgets(values: dict[str, tuple[float, str]], tolerance: float) -> None:
    lines = [
        "# The instruction gate's baselines (make bench-check, bench/gate.py): each case's ratio to the raw",
        "# verify of the same fixtures (the cold start: to the floor imports), in instructions, as measured",
        "# by `make bench-baseline`, which only ever lowers one (a cost that must rise is raised here by hand,",
        "# its reason in the commit). A case fails when its ratio exceeds baseline x (1 + tolerance). Counts",
        "# are exact for one build of the code; the tolerance absorbs library updates and the few hundred",
        "# instructions an unrelated change can move a case by (where objects land in memory).",
        "",
        f"tolerance = {tolerance}",
        "",
        "[baseline]",
    ]
    lines += [f'"{name}" = {value:.6f}' for name, (value, _) in values.items()]
    BUDGETS.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--baseline", action="store_true", help="lower bench/budgets.toml's baselines to this commit's counts (never raises one)"
    )
    parser.add_argument(
        "--reset", action="store_true", help="with --baseline: write this commit's counts as they are (new fixtures, a new runner image)"
    )
    parser.add_argument("--json", default=str(RESULTS), help="where to write the verdict")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="valgrind runs at once")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="configure the measured authorizer (repeatable): a report of what a setting costs, never a verdict",
    )
    args = parser.parse_args(argv)
    if args.reset and not args.baseline:
        parser.error("--reset goes with --baseline")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("bench-check: valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)", file=sys.stderr)
        return 2
    budgets = tomllib.loads(BUDGETS.read_text()) if BUDGETS.exists() else {}
    with tempfile.TemporaryDirectory(prefix="fastauthz-gate-") as workdir, FixedPaths() as paths:
        counter = Counter(valgrind, Path(workdir), paths)
        if args.env:
            if args.baseline:
                parser.error("--env measures a variant: it cannot be a baseline")
            counter.environ["GATE_AUTHORIZER_ENV"] = json.dumps(dict(item.split("=", 1) for item in args.env))
        measured = measure(counter, args.jobs)
    values = ratios(measured)
    if args.baseline:
        kept = {} if args.reset else budgets.get("baseline", {})
        write_budgets(ratchet(values, kept), float(budgets.get("tolerance", DEFAULT_TOLERANCE)))
        budgets = tomllib.loads(BUDGETS.read_text())
        print(f"baselines written to {BUDGETS.relative_to(ROOT)}")
    verdict = judge(values, budgets)
    verdict["instructions"] = {**{case: round(count) for case, count in measured["per_call"].items()}, **measured["processes"]}
    print(table(verdict, measured, budgets))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(verdict, indent=2) + "\n")
    if args.env:
        print(f"\nwith {' '.join(args.env)}: a report, not a verdict (the gate judges the default configuration)")
        return 0
    failed = [case["name"] for case in verdict["cases"] if case["value"] > case["limit"]]
    print(
        f"\n{len(failed)} case(s) over their limit: {', '.join(failed)}"
        if failed
        else f"\nall {len(verdict['cases'])} cases within {float(budgets.get('tolerance', DEFAULT_TOLERANCE)):.0%} of their baselines"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
