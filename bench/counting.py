"""Counting instructions: each side's checkout and the libraries seen through fixed paths, valgrind's
cachegrind run on `bench/workload.py CASE CALLS`, and a figure per case taken as bench/gate.py's doc
says. The gate's verdicts are in bench/budgets.py, its reports in bench/gate_report.py."""

from __future__ import annotations

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
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
_FUNCTION_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$")  # callgrind_annotate: "Ir (pct) file:function [object]"
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

    def functions(self, arguments: list[str]) -> dict[str, int]:
        """Instructions per C function (callgrind, self cost) of one process: the C-level view beside
        bench/moved.py's Python-level one, where the eval loop's cost lands."""
        out = self.workdir / f"callgrind-{next(self._runs):06d}.out"
        self.count(arguments, tool=["--tool=callgrind", f"--callgrind-out-file={out}"])
        annotate = shutil.which("callgrind_annotate")
        if annotate is None:
            raise HarnessError("callgrind_annotate is not installed (it comes with valgrind)")
        report = subprocess.run([annotate, "--threshold=100", str(out)], capture_output=True, text=True, check=False).stdout
        costs: dict[str, int] = {}
        for line in report.splitlines():
            found = _FUNCTION_LINE.match(line)
            if found and ":" in found.group(2):
                file, _, function = found.group(2).split(" [", 1)[0].rpartition(":")  # without the object file
                # The file's last two parts (Objects/dictobject.c), the function without callgrind's recursion mark ('2).
                name = "/".join(file.split("/")[-2:]) + ":" + re.sub(r"'\d+$", "", function)
                costs[name] = costs.get(name, 0) + int(found.group(1).replace(",", ""))
        return costs

    def count(self, arguments: list[str], extra: dict[str, str] | None = None, tool: list[str] | None = None) -> int:
        # A fixed-width name: valgrind's own command line shapes where the client's memory lands.
        log = self.workdir / f"run-{next(self._runs):06d}.log"
        command = [
            *self.no_aslr,
            self.valgrind,
            *(tool or ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]),
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
        found = _REFS.search(report) or re.search(r"Collected\s*:\s*([\d,]+)", report)  # cachegrind, callgrind
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
