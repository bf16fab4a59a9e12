"""The gate's figures over commits: one JSON line per commit on main, kept on a branch of their own
(`bench-history`), and a chart of each case over them.

Why a branch, as github-action-benchmark keeps its data: it is plain git, so any CI can append to it
and anyone can read it (`git fetch origin bench-history`), it lives as long as the repository (a CI
artifact expires, and listing artifacts needs the host's API), and it never touches the code's
history. Each line carries its environment's fingerprint: figures of two environments are drawn
apart, never joined into one line (bench/fingerprint.py says why).

    python -m bench.history publish --result bench/results/check.json [--remote origin] [--branch bench-history]
    python -m bench.history draw [--remote origin] [--branch bench-history] [--out bench/results/history.png]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HISTORY_FILE = "history.jsonl"
BRANCH = "bench-history"


def line_of(result: dict[str, Any]) -> dict[str, Any]:
    """What one commit's run adds to the history: commit, date, environment, each case's figures."""
    return {
        "commit": result["head"],
        "date": result["date"],
        "fingerprint_id": result["fingerprint_id"],
        "fingerprint": result["fingerprint"],
        "instructions": result["instructions"],
        "ratios": result["ratios"],
    }


def append(path: Path, result: dict[str, Any]) -> None:
    """Append one run's line to a local history file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(line_of(result), sort_keys=True) + "\n")


def _git(*arguments: str, cwd: Path) -> str:
    completed = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"git {' '.join(arguments)}: {completed.stderr.strip()}")
    return completed.stdout


def read(remote: str, branch: str = BRANCH) -> list[dict[str, Any]]:
    """The history on `remote`'s `branch` (empty when it has none yet)."""
    with tempfile.TemporaryDirectory(prefix="fastauthz-history-") as work:
        directory = Path(work)
        _git("init", "--quiet", cwd=directory)
        fetched = subprocess.run(["git", "fetch", "--quiet", remote, branch], cwd=directory, capture_output=True, text=True, check=False)
        if fetched.returncode != 0:
            return []
        text = _git("show", f"FETCH_HEAD:{HISTORY_FILE}", cwd=directory)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def publish(result: dict[str, Any], remote: str, branch: str = BRANCH) -> int:
    """Append `result`'s line to `remote`'s `branch` (created, as an orphan, on the first run) and push.
    Returns how many lines the history holds now."""
    with tempfile.TemporaryDirectory(prefix="fastauthz-history-") as work:
        directory = Path(work)
        _git("init", "--quiet", cwd=directory)
        _git("config", "user.name", "fastauthz bench", cwd=directory)
        _git("config", "user.email", "bench@fastauthz.invalid", cwd=directory)
        fetched = subprocess.run(["git", "fetch", "--quiet", remote, branch], cwd=directory, capture_output=True, text=True, check=False)
        if fetched.returncode == 0:
            _git("checkout", "--quiet", "-b", branch, "FETCH_HEAD", cwd=directory)
        else:
            _git("checkout", "--quiet", "--orphan", branch, cwd=directory)
        path = directory / HISTORY_FILE
        lines = path.read_text().splitlines() if path.exists() else []
        entry = line_of(result)
        lines = [line for line in lines if json.loads(line)["commit"] != entry["commit"]]  # a re-run replaces its commit's line
        lines.append(json.dumps(entry, sort_keys=True))
        path.write_text("\n".join(lines) + "\n")
        _git("add", HISTORY_FILE, cwd=directory)
        unchanged = subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=directory, check=False).returncode == 0
        if fetched.returncode != 0 or not unchanged:  # the same line again (a re-run of a commit): nothing to push
            _git("commit", "--quiet", "-m", f"bench: {entry['commit'][:12]} ({entry['fingerprint_id']})", cwd=directory)
            _git("push", "--quiet", remote, f"HEAD:refs/heads/{branch}", cwd=directory)
    return len(lines)


def draw(history: list[dict[str, Any]], out: Path) -> None:
    """Each case's ratio over the commits, one panel per case; one line per environment. The title
    names the newest commit, its date and its environment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.fingerprint import describe

    if not history:
        raise ValueError("the history is empty: nothing to draw")
    cases = sorted({case for line in history for case in line["ratios"]})
    columns = 4
    rows = (len(cases) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.6 * rows), squeeze=False)
    commits = [line["commit"][:7] for line in history]
    environments = sorted({line["fingerprint_id"] for line in history})
    for axis, case in zip(axes.flat, cases, strict=False):
        for environment in environments:
            points = [
                (index, line["ratios"][case])
                for index, line in enumerate(history)
                if line["fingerprint_id"] == environment and case in line["ratios"]
            ]
            if points:
                axis.plot([x for x, _ in points], [y for _, y in points], marker="o", markersize=3, label=environment)
        axis.set_title(case, fontsize=8)
        axis.tick_params(labelsize=6)
        axis.set_xticks(range(len(commits)))
        axis.set_xticklabels(commits, rotation=60, fontsize=5)
    for axis in list(axes.flat)[len(cases) :]:
        axis.set_visible(False)
    newest = history[-1]
    figure.suptitle(
        f"fastauthz instruction gate, {len(history)} commits to {newest['commit'][:12]} ({newest['date']})\n"
        f"ratio to the raw verify (cold start: to the floor imports); newest environment {newest['fingerprint_id']}: "
        f"{describe(newest['fingerprint'])}" + (f"; {len(environments)} environments, drawn apart" if len(environments) > 1 else ""),
        fontsize=9,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.94))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    publish_command = commands.add_parser("publish", help="append a result to the history branch and push it")
    publish_command.add_argument("--result", default=str(HERE / "results" / "check.json"), help="the gate's result (default: %(default)s)")
    draw_command = commands.add_parser("draw", help="draw the history (PNG)")
    draw_command.add_argument("--out", default=str(HERE / "results" / "history.png"), help="where (default: %(default)s)")
    for command in (publish_command, draw_command):
        command.add_argument("--remote", default="origin", help="a git remote or URL (default: %(default)s)")
        command.add_argument("--branch", default=BRANCH, help="the history's branch (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        if args.command == "publish":
            count = publish(json.loads(Path(args.result).read_text()), args.remote, args.branch)
            print(f"{args.remote} {args.branch}: {count} commits in the history")
            return 0
        history = read(args.remote, args.branch)
        if not history:
            print(f"no history on {args.remote} {args.branch} yet: the workflow on main publishes one line per commit", file=sys.stderr)
            return 2
        draw(history, Path(args.out))
        print(f"wrote {args.out} ({len(history)} commits)")
        return 0
    except (RuntimeError, OSError, ValueError) as error:
        print(f"bench-history: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
