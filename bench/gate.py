"""`make bench-check`: the CI regression gate, on instruction counts (exact), not seconds (noisy).

Each case runs in fresh interpreters under valgrind (`cachegrind --cache-sim=no`, which counts
instructions and nothing else) as `bench/workload.py CASE CALLS`, twice: with LEAD_IN calls and
with LEAD_IN + WINDOW calls. Instructions per call are the difference over WINDOW: set-up, imports,
start-up and the one-off work of the first calls cancel out (bench/workload.py says why).

Two verdicts, each exact on its own terms:
  - against a base commit (`--base REF`, in CI the pull request's merge-base or the previous commit
    on main): REF is checked out in a worktree and both commits' cases are counted in the same run,
    on the same interpreter, interleaved; a case fails when head/base exceeds 1 + its limit (the
    [compare] table of bench/budgets.toml, +1% by default). No committed figure is involved, so any
    runner and any Python build gives the same answer for the same change.
  - against the budgets recorded for this environment (bench/fingerprint.py: Python build,
    cryptography and OpenSSL, valgrind, architecture), the long-run guard: each case as a ratio to
    the raw `cryptography` verify of the same fixtures (the cold start: to a process that imports only
    the floor's modules), failing more than `tolerance` above its baseline. An environment with no
    recorded budgets says so and skips this check.
For each case over its limit against the base, the Python functions whose cost moved are named
(bench/moved.py), in the terminal and in bench/results/summary.md (and $GITHUB_STEP_SUMMARY).

Why instructions: the same binary, inputs and environment execute the same instructions whatever
else the machine is doing, so two runs agree to about 0.001% where wall-clock ratios on a shared
2-core runner wander by 5-10%. What they miss: cache misses and branch mispredictions, which is why
`make bench` (seconds, peers in the same run) stays the report people read.

    python -m bench.gate                    # this commit, against this environment's budgets
    python -m bench.gate --base HEAD~1      # and against HEAD~1, counted in the same run
    python -m bench.gate --baseline         # lower (or first record) this environment's budgets
    python -m bench.gate --env FASTAUTHZ_REFUSE_WITH=deny   # what a setting costs: the same table, no verdict
    python -m bench.gate --compare A.json B.json            # two saved results (refused across environments)

Exit status: 0 within limits; 1 a regression; 2 the harness could not run (no valgrind, an unknown
ref, a base that does not build, results of two environments). The last line says which and why.
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
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.fingerprint import describe, differences, fingerprint, fingerprint_id

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUDGETS = HERE / "budgets.toml"
RESULTS = HERE / "results" / "check.json"
SUMMARY = HERE / "results" / "summary.md"
DEFAULT_TOLERANCE = 0.02
DEFAULT_COMPARE_LIMIT = 0.01
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
# What a side's own workload says it measures (its cases, window and cold-start event), asked of
# that side's code: a base commit may have other cases than the head.
FACTS = (
    "import json\n"
    "from bench.workload import CASES, EVENT_TEMPLATE_TOKEN_CASE, FIXTURES, cold_start_event, environment\n"
    "fixtures = json.loads((FIXTURES / 'tokens.json').read_text())\n"
    "print(json.dumps({'cases': list(CASES), 'lead_in': fixtures['lead_in'], 'window': fixtures['window'],\n"
    "    'cold_env': {**environment(fixtures), 'GATE_EVENT': json.dumps(cold_start_event(fixtures, EVENT_TEMPLATE_TOKEN_CASE))}}))\n"
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
# are, but for about one case in a thousand, two pairs in the common layout. (Three processes whose
# half-window figures agree were tried, to count faster: the halves differ by design, 0.5% for a
# fresh token, where the collector and the caches' evictions fall unevenly, so they seldom agreed.)
AGREEMENT = 0.002
MAX_PAIRS = 6
SIDES = ("head", "base")  # names of equal length: the two sides' paths are the same length too


class HarnessError(Exception):
    """The gate could not run (exit status 2): the message says why."""


def floor_of(case: str) -> str:
    """The raw verify a case is compared with: its own algorithm's, else RS256's."""
    match = re.fullmatch(r"handler, fresh (.+) token", case)
    return f"raw verify {match.group(1) if match else 'RS256-2048'}"


# Where the measured processes see the checkouts, their libraries and the interpreter, whatever the
# checkouts' own locations: the same paths in every run. Each path string a process allocates (sys.path,
# every module's __file__ and code objects' co_filename) shifts where later objects land, and so which
# names collide in CPython's method cache: measured, the same commit counted 18,987 instructions per
# HTTP API cache hit from /tmp/ci.Xl8F and 19,486 from /tmp/tmp.yqmkDyXztD, over its 2% limit.
STAGE = Path(tempfile.gettempdir()) / "fastauthz-gate"


class FixedPaths:
    """STAGE's symlinks to each side's checkout (head/code, base/code), the libraries (purelib/,
    platlib/) and the base interpreter (bin/python: -S and PYTHONPATH make the virtualenv unnecessary,
    and sys.prefix is the base installation's), held under a lock while a gate runs."""

    def __init__(self, checkouts: dict[str, Path] | None = None) -> None:
        self.checkouts = checkouts or {"head": ROOT}

    def __enter__(self) -> FixedPaths:
        import fcntl

        STAGE.mkdir(exist_ok=True)
        self._lock = (STAGE / ".lock").open("w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # another checkout's gate waits: the links are shared
        paths = sysconfig.get_paths()
        links = {"purelib": Path(paths["purelib"]), "platlib": Path(paths["platlib"])}
        links["bin/python"] = Path(sys.executable).resolve()
        links |= {f"{side}/code": checkout for side, checkout in self.checkouts.items()}
        for name, target in links.items():
            link = STAGE / name
            link.parent.mkdir(exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(target)
        self.code = {side: STAGE / side / "code" for side in self.checkouts}
        self.python = STAGE / "bin" / "python"
        self.libraries = [str(STAGE / "purelib")] + ([str(STAGE / "platlib")] if paths["platlib"] != paths["purelib"] else [])
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.close()


class Counter:
    """Runs Python programs of one side under cachegrind in a fixed, minimal environment and reads the count."""

    def __init__(self, valgrind: str, workdir: Path, paths: FixedPaths, side: str = "head", runs: Any = None) -> None:
        self.valgrind = valgrind
        self.workdir = workdir
        self.paths = paths
        self.side = side
        self.code = paths.code[side]
        # -S: no site processing (no .pth hooks of the virtualenv); the code and the installed
        # libraries come from PYTHONPATH, as a Lambda function's come from /var/task.
        self.environ = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join([str(self.code), *paths.libraries]),
        }
        self._runs = runs if runs is not None else itertools.count(1)
        setarch = shutil.which("setarch")
        self.no_aslr = [setarch, platform.machine(), "-R"] if setarch else []

    def python(self, arguments: list[str], extra: dict[str, str] | None = None, timeout: float = 600) -> str:
        """Run this side's code without valgrind; its stdout. Raises HarnessError when it fails."""
        completed = subprocess.run(
            [str(self.paths.python), "-S", *arguments],
            env={**self.environ, **(extra or {})},
            cwd=STAGE,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if completed.returncode != 0:
            raise HarnessError(f"the {self.side} commit's {' '.join(arguments)[:60]} failed: {completed.stderr.strip()[-400:]}")
        return completed.stdout

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
            raise HarnessError(
                f"{self.side}: {' '.join(arguments)[:80]} failed (exit {completed.returncode}):\n{completed.stderr[-2000:]}\n{report[-1000:]}"
            )
        return int(found.group(1).replace(",", ""))


def prepare(counter: Counter) -> dict[str, Any]:
    """A side's facts (its cases, window, cold-start environment), and bytecode for everything its
    children import, its co_filename the path they import it from (so that no run compiles)."""
    for directory in ("fastauthz", "bench", "testkit"):  # the workload imports the test kit's events
        compileall.compile_dir(str(counter.code / directory), quiet=1, force=True)
    facts: dict[str, Any] = json.loads(counter.python(["-c", FACTS]))
    facts["cold_env"]["JWT_ISSUER_JWKS_URI"] = re.sub(
        r"^file://.*?/bench/", f"file://{counter.code}/bench/", facts["cold_env"]["JWT_ISSUER_JWKS_URI"]
    )
    return facts


def measure(counters: dict[str, Counter], jobs: int, floors: bool = True) -> dict[str, dict[str, Any]]:
    """{side: {"per_call": {case: instructions}, "processes": {"floor imports": n, COLD_START: n}, "window": calls}},
    every side's cases interleaved in one pool. The floors (raw verify, floor imports) are the
    libraries' code, the same for both sides: counted once, with the head, and only when something
    divides by them (`floors`: budgets to check or record; a comparison needs none)."""
    for library in counters["head"].paths.libraries:
        for package in ("cryptography", "joserfc"):
            if (Path(library) / package).is_dir():
                compileall.compile_dir(str(Path(library) / package), quiet=1, force=True)
    facts = {side: prepare(counter) for side, counter in counters.items()}

    def per_call(side: str, case: str) -> float:
        """Instructions per call over the window, the first figure two pairs agree on (see AGREEMENT)."""
        counter, lead_in, window = counters[side], facts[side]["lead_in"], facts[side]["window"]
        workload = ["-m", "bench.workload", case]
        figures: list[float] = []
        while len(figures) < MAX_PAIRS:
            lead = counter.count([*workload, str(lead_in)])
            figure: float = (counter.count([*workload, str(lead_in + window)]) - lead) / window
            if any(abs(figure - seen) <= AGREEMENT * abs(seen) for seen in figures):
                return figure
            figures.append(figure)
        return float(statistics.median(figures))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures: dict[str, dict[str, Any]] = {side: {"per_call": {}, "processes": {}} for side in counters}
        cases = sorted(
            {case for side in counters for case in facts[side]["cases"]},
            key=lambda c: facts["head"]["cases"].index(c) if c in facts["head"]["cases"] else 999,
        )
        for case in cases:  # interleaved: the sides meet the machine's state alike
            for side in counters:
                floor = case.startswith("raw verify")
                if case in facts[side]["cases"] and (not floor or (floors and side == "head")):
                    futures[side]["per_call"][case] = pool.submit(per_call, side, case)
        for side, counter in counters.items():
            futures[side]["processes"][COLD_START] = pool.submit(counter.count, ["-c", FIRST_ALLOW], facts[side]["cold_env"])
        floor_imports = pool.submit(counters["head"].count, ["-c", FLOOR_IMPORTS]) if floors else None
        return {
            side: {
                "window": facts[side]["window"],
                "lead_in": facts[side]["lead_in"],
                "per_call": {case: future.result() for case, future in futures[side]["per_call"].items()},
                "processes": {
                    **({"floor imports": floor_imports.result()} if floor_imports is not None else {}),
                    **{name: future.result() for name, future in futures[side]["processes"].items()},
                },
            }
            for side in counters
        }


def ratios(measured: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """{case: (ratio, unit)} for every gated case."""
    per_call = measured["per_call"]
    result = {case: (per_call[case] / per_call[floor_of(case)], RATIO_UNIT) for case in per_call if not case.startswith("raw verify")}
    processes = measured["processes"]
    result[COLD_START] = (processes[COLD_START] / processes["floor imports"], COLD_UNIT)
    return result


def judge(values: dict[str, tuple[float, str]], budgets: dict[str, Any]) -> dict[str, Any]:
    """Against one environment's budgets ({"tolerance", "baseline"}): a case over baseline x (1 + tolerance) fails."""
    tolerance = float(budgets.get("tolerance", DEFAULT_TOLERANCE))
    baselines: dict[str, float] = budgets.get("baseline", {})
    cases: list[dict[str, Any]] = []
    for name, (value, unit) in values.items():
        baseline = baselines.get(name)
        # A case with no baseline yet fails: a new case is gated from the commit that adds it.
        limit = round(baseline * (1 + tolerance), 6) if baseline is not None else 0.0
        cases.append({"name": name, "value": round(value, 6), "limit": limit, "unit": unit})
    return {"ok": all(case["value"] <= case["limit"] for case in cases), "cases": cases}


def counts(measured: dict[str, Any]) -> dict[str, float]:
    """Every gated figure in instructions: per call, and per process for the cold start."""
    return {**{case: value for case, value in measured["per_call"].items()}, COLD_START: measured["processes"][COLD_START]}


def compare(head: dict[str, Any], base: dict[str, Any], limits: dict[str, Any]) -> list[dict[str, Any]]:
    """Each case of the head: base and head instructions, head/base - 1, its limit and verdict
    ("ok", "regression", or "new" for a case the base does not have)."""
    default = float(limits.get("default", DEFAULT_COMPARE_LIMIT))
    rows = []
    base_counts = counts(base)
    for name, value in counts(head).items():
        if name.startswith("raw verify"):
            continue
        before = base_counts.get(name)
        limit = float(limits.get(name, default))
        if before is None:
            rows.append({"name": name, "base": None, "head": value, "change": None, "limit": limit, "verdict": "new"})
            continue
        change = round(value / before - 1, 9)  # rounded: 1010/1000 - 1 is 0.010000000000000009
        rows.append(
            {
                "name": name,
                "base": before,
                "head": value,
                "change": change,
                "limit": limit,
                "verdict": "ok" if change <= limit else "regression",
            }
        )
    return rows


def where_it_moved(counters: dict[str, Counter], facts: dict[str, dict[str, Any]], case: str) -> list[dict[str, Any]]:
    """The Python functions whose per-call counts moved most between base and head (bench/moved.py)."""
    from bench.moved import moved

    profiles = {}
    for side, counter in counters.items():
        lead_in, window = facts[side]["lead_in"], facts[side]["window"]
        output = counter.python(["-m", "bench.moved", case, str(lead_in), str(window)])
        try:
            profiles[side] = json.loads(output.strip().splitlines()[-1])  # its last line (the authorizer logs to stdout too)
        except (ValueError, IndexError):
            raise HarnessError(f"the {side} commit's bench.moved printed no counts for {case!r}") from None
    return moved(profiles["base"], profiles["head"])


def load_budgets() -> dict[str, Any]:
    return tomllib.loads(BUDGETS.read_text()) if BUDGETS.exists() else {}


def environment_budgets(budgets: dict[str, Any], key: str) -> dict[str, Any] | None:
    """This environment's {"tolerance", "baseline", "fingerprint"}, or None when none are recorded."""
    recorded = (budgets.get("environments") or {}).get(key)
    if recorded is None:
        return None
    return {"tolerance": budgets.get("tolerance", DEFAULT_TOLERANCE), **recorded}


def ratchet(values: dict[str, tuple[float, str]], baselines: dict[str, float]) -> dict[str, tuple[float, str]]:
    """The baselines `make bench-baseline` writes: each case's lower of its committed baseline and
    this commit's ratio, so budgets move down when a change wins and never up (a new case takes its
    first ratio). A cost that must rise is raised in budgets.toml by hand, its reason in the commit;
    new fixtures or a new runner image start over (`--baseline --reset`)."""
    return {name: (min(value, baselines.get(name, value)), unit) for name, (value, unit) in values.items()}


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def write_budgets(budgets: dict[str, Any]) -> None:
    """bench/budgets.toml from {"tolerance", "compare": {...}, "environments": {id: {"fingerprint", "baseline"}}}."""
    lines = [
        "# The instruction gate's figures (make bench-check, bench/gate.py).",
        "#",
        "# [compare]: the limit on head/base - 1 per case when a commit is compared with its base in the same",
        "# run (make bench-check BASE=<ref>): `default` for every case, a case's own beside the reason.",
        "#",
        "# [environments.<fingerprint>]: the long-run guard, one table per environment (bench/fingerprint.py):",
        "# each case's ratio to the raw verify of the same fixtures (the cold start: to the floor imports), as",
        "# measured by `make bench-baseline`, which only ever lowers one (a cost that must rise is raised here",
        "# by hand, its reason in the commit). A case fails when its ratio exceeds baseline x (1 + tolerance).",
        "# An environment without a table is not judged this way (its first `make bench-baseline` records one).",
        "",
        f"tolerance = {float(budgets.get('tolerance', DEFAULT_TOLERANCE))}",
        "",
        "[compare]",
    ]
    compare_limits = budgets.get("compare") or {"default": DEFAULT_COMPARE_LIMIT}
    lines += [f"{_toml_string(name)} = {float(value)}" for name, value in compare_limits.items()]
    for key, recorded in (budgets.get("environments") or {}).items():
        lines += ["", f"[environments.{_toml_string(key)}]"]
        lines.append(
            "fingerprint = { " + ", ".join(f"{name} = {_toml_string(value)}" for name, value in recorded["fingerprint"].items()) + " }"
        )
        lines += ["", f"[environments.{_toml_string(key)}.baseline]"]
        lines += [f"{_toml_string(name)} = {float(value):.6f}" for name, value in recorded["baseline"].items()]
    BUDGETS.write_text("\n".join(lines) + "\n")


def base_checkout(ref: str, workdir: Path) -> tuple[Path, str]:
    """A worktree of `ref` (its commit, detached) under `workdir`. Raises HarnessError at once for an unknown ref."""
    resolved = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if resolved.returncode != 0:
        raise HarnessError(f"unknown ref {ref!r}: not a commit of this repository (fetch it first, e.g. fetch-depth: 0)")
    commit = resolved.stdout.strip()
    checkout = workdir / "base-checkout"
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(checkout), commit], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if added.returncode != 0:
        raise HarnessError(f"cannot check out {ref} ({commit[:12]}): {added.stderr.strip()}")
    if not (checkout / "bench" / "workload.py").exists():
        raise HarnessError(f"{ref} ({commit[:12]}) has no bench/workload.py: it predates the gate")
    return checkout, commit


def head_commit() -> str:
    found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return found.stdout.strip() or "unknown"


# -- reports ------------------------------------------------------------------------------------------
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


def comparison_table(rows: list[dict[str, Any]], moved: dict[str, list[dict[str, Any]]]) -> str:
    from bench.moved import format_row

    lines = [f"{'case':<44} {'base':>13} {'head':>13} {'change':>8} {'limit':>7}  verdict"]
    for row in rows:
        base = f"{row['base']:,.0f}" if row["base"] is not None else "—"
        change = f"{row['change']:+.2%}" if row["change"] is not None else "—"
        lines.append(f"{row['name']:<44} {base:>13} {row['head']:>13,.0f} {change:>8} {row['limit']:>+7.1%}  {row['verdict']}")
        for moved_row in moved.get(row["name"], []):
            lines.append(f"    {format_row(moved_row)}")
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """bench/results/summary.md: the comparison (with where the cost moved), the budget check, and
    the environment; ready to post as a pull request comment."""
    from bench.moved import format_row

    lines = [f"## Instruction gate: {result['conclusion']}", ""]
    lines.append(
        f"head `{result['head'][:12]}`"
        + (f" against base `{result['base'][:12]}`" if result.get("base") else "")
        + f"; {describe(result['fingerprint'])}"
    )
    lines.append("")
    if result.get("comparison"):
        lines += ["| case | base | head | change | limit | verdict |", "| --- | ---: | ---: | ---: | ---: | --- |"]
        for row in result["comparison"]:
            base = f"{row['base']:,.0f}" if row["base"] is not None else "—"
            change = f"{row['change']:+.2%}" if row["change"] is not None else "—"
            verdict = {"ok": "ok", "new": "new (no base)", "regression": "**regression**"}[row["verdict"]]
            lines.append(f"| {row['name']} | {base} | {row['head']:,.0f} | {change} | {row['limit']:+.1%} | {verdict} |")
        for name, rows in (result.get("moved") or {}).items():
            lines += ["", f"**Where the cost of _{name}_ moved** (Python line events per call, base → head):", ""]
            lines += [f"- `{format_row(row)}`" for row in rows] or [
                "- no Python-level change: the cost moved in C (run callgrind on both sides)"
            ]
        lines.append("")
    budget = result.get("budget")
    if budget is None:
        lines.append(f"Budgets: none recorded for this environment (`{result['fingerprint_id']}`): not checked.")
    else:
        over = [case["name"] for case in budget["cases"] if case["value"] > case["limit"]]
        lines.append(f"Budgets of this environment: {'all within' if not over else 'over in ' + ', '.join(over)}.")
    return "\n".join(lines) + "\n"


def write_summary(result: dict[str, Any]) -> None:
    text = markdown(result)
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(text)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a") as handle:
            handle.write(text)


def compare_files(first: Path, second: Path) -> int:
    """`--compare A.json B.json`: two saved results, refused across environments."""
    results = [json.loads(path.read_text()) for path in (first, second)]
    fingerprints = [result.get("fingerprint") or {} for result in results]
    changed = differences(fingerprints[0], fingerprints[1])
    if changed:
        raise HarnessError(f"{first} and {second} come from different environments, so their counts do not compare: {'; '.join(changed)}")
    before = {name: value for name, value in results[0]["instructions"].items()}
    after = {name: value for name, value in results[1]["instructions"].items()}
    for name in after:
        if name in before and not name.startswith("raw verify"):
            print(f"{name:<44} {before[name]:>13,.0f} {after[name]:>13,.0f} {after[name] / before[name] - 1:>+8.2%}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", metavar="REF", help="also count REF (a commit, branch or tag) in the same run, and judge head/base")
    parser.add_argument(
        "--baseline", action="store_true", help="lower this environment's baselines to this commit's counts (never raises one)"
    )
    parser.add_argument(
        "--reset", action="store_true", help="with --baseline: write this commit's counts as they are (new fixtures, a new runner image)"
    )
    parser.add_argument("--json", default=str(RESULTS), help="where to write the result (default: %(default)s)")
    parser.add_argument("--history", metavar="FILE", help="append this run's figures, one JSON line (commit, date, fingerprint, cases)")
    parser.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="compare two saved results instead of counting")
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
    if args.env and (args.baseline or args.base):
        parser.error("--env measures a variant: no baseline and no comparison")
    try:
        if args.compare:
            return compare_files(Path(args.compare[0]), Path(args.compare[1]))
        return run(args)
    except HarnessError as error:
        print(f"\nbench-check could not run: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise HarnessError("valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)")
    environment = fingerprint(valgrind)
    key = fingerprint_id(environment)
    budgets = load_budgets()
    with tempfile.TemporaryDirectory(prefix="fastauthz-gate-") as work:
        workdir = Path(work)
        checkouts = {"head": ROOT}
        base_commit = None
        try:
            if args.base:
                checkouts["base"], base_commit = base_checkout(args.base, workdir)
            with FixedPaths(checkouts) as paths:
                runs = itertools.count(1)
                counters = {side: Counter(valgrind, workdir, paths, side, runs) for side in checkouts}
                if args.env:
                    counters["head"].environ["GATE_AUTHORIZER_ENV"] = json.dumps(dict(item.split("=", 1) for item in args.env))
                # The floors serve only the budgets' ratios: with a base and no budgets here, they are not counted.
                floors = bool(args.baseline or args.env or not args.base or environment_budgets(budgets, key) is not None)
                measured = measure(counters, args.jobs, floors)
                rows = compare(measured["head"], measured["base"], budgets.get("compare") or {}) if args.base else []
                regressions = [row["name"] for row in rows if row["verdict"] == "regression"]
                facts = {side: {"lead_in": measured[side]["lead_in"], "window": measured[side]["window"]} for side in measured}
                moved = {}
                for name in regressions:
                    if name == COLD_START:  # a whole process: its cost is in imports, not in one function's calls
                        continue
                    try:
                        moved[name] = where_it_moved(counters, facts, name)
                    except HarnessError as error:  # the verdict stands without it; say why it is missing
                        print(f"where the cost of {name!r} moved: not found ({error})", file=sys.stderr)
                        moved[name] = []
        finally:
            if args.base:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(workdir / "base-checkout")], cwd=ROOT, capture_output=True, check=False
                )
    values = ratios(measured["head"]) if "floor imports" in measured["head"]["processes"] else {}
    if args.baseline:
        recorded = (budgets.setdefault("environments", {})).get(key, {})
        kept = {} if args.reset else recorded.get("baseline", {})
        budgets["environments"][key] = {
            "fingerprint": environment,
            "baseline": {name: value for name, (value, _) in ratchet(values, kept).items()},
        }
        budgets.setdefault("compare", {"default": DEFAULT_COMPARE_LIMIT})
        write_budgets(budgets)
        budgets = load_budgets()
        print(f"baselines of this environment ({key}: {describe(environment)}) written to {BUDGETS.relative_to(ROOT)}")
    recorded_budgets = environment_budgets(budgets, key)
    budget = judge(values, recorded_budgets) if recorded_budgets is not None else None
    head = head_commit()
    result: dict[str, Any] = {
        "head": head,
        "base": base_commit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "fingerprint": environment,
        "fingerprint_id": key,
        "instructions": {**{case: round(count) for case, count in measured["head"]["per_call"].items()}, **measured["head"]["processes"]},
        "ratios": {name: round(value, 6) for name, (value, _) in values.items()},
        "comparison": rows,
        "moved": moved,
        "budget": budget,
        # For bench/report.py (make bench): the head's cases against this environment's budgets.
        "cases": (budget or judge(values, {"baseline": {}}))["cases"],
        "seconds": round(time.monotonic() - started, 1),
    }
    # The verdict: the comparison with the base where there is one, and this environment's budgets where recorded.
    over_budget = [case["name"] for case in budget["cases"] if case["value"] > case["limit"]] if budget is not None else []
    failed = bool(regressions or over_budget) and not args.env
    result["ok"] = not failed
    result["conclusion"] = "report only (--env)" if args.env else ("regression" if failed else "within limits")
    if rows:
        print(comparison_table(rows, moved))
        print()
    if budget is not None:
        print(table(budget, measured["head"], recorded_budgets or {}))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    write_summary(result)
    if args.history:
        from bench.history import append

        append(Path(args.history), result)
    print(f"\nenvironment {key}: {describe(environment)}; {result['seconds']:.0f} s; summary in {SUMMARY.relative_to(ROOT)}")
    if args.env:
        print(f"with {' '.join(args.env)}: a report, not a verdict (the gate judges the default configuration)")
        return 0
    if budget is None:
        print(f"no budgets recorded for this environment ({key}): that check is skipped (make bench-baseline records them)")
    lines = []
    if regressions:
        lines.append(f"{len(regressions)} case(s) regressed against {args.base}: {', '.join(regressions)}")
    if over_budget:
        lines.append(f"{len(over_budget)} case(s) over this environment's budgets: {', '.join(over_budget)}")
    if not lines:
        judged = (
            (f"within their limits against {args.base}" if rows else "")
            + (" and " if rows and budget else "")
            + ("within this environment's budgets" if budget else "")
        )
        lines.append(f"all cases {judged or 'measured (nothing to judge: no base and no budgets)'}")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
