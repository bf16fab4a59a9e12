"""Where a case's cost moved (bench/moved.py) and the gate's history (bench/history.py), against a
temporary git remote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench import history
from bench.moved import format_row, moved, profile


def decide_before(index: int) -> int:
    return index + 1


def decide_after(index: int) -> int:
    total = index
    for _ in range(20):  # the ~0.5 µs of Python work a regression adds
        total += 1
    return total + 1


def test_the_function_that_grew_is_named_first_with_its_place() -> None:
    base = profile(decide_before, 0, 10)
    head = {key.replace("decide_after", "decide_before"): value for key, value in profile(decide_after, 0, 10).items()}
    rows = moved(base, head)
    assert rows and rows[0]["function"] == "decide_before"
    assert rows[0]["inclusive"] > 40 and rows[0]["calls"] == 0
    assert "lines/call inclusive" in format_row(rows[0]) and "test_moved_and_history.py:" in format_row(rows[0])


def test_the_counts_are_the_same_on_every_run() -> None:
    assert profile(decide_after, 0, 10) == profile(decide_after, 0, 10)


def result(commit: str, python: str = "3.11.7") -> dict[str, Any]:
    return {
        "head": commit * 40,
        "date": "2026-12-07T16:00:00Z",
        "fingerprint_id": f"env-{python}",
        "fingerprint": {
            "python": python,
            "machine": "x86_64",
            "cryptography": "51.0.1",
            "openssl": "OpenSSL 3",
            "valgrind": "valgrind-3.19.0",
        },
        "instructions": {"handler, repeated token (cache hit)": 14000},
        "ratios": {"handler, repeated token (cache hit)": 0.042, "handler, reject malformed": 0.145},
    }


def test_the_history_is_published_to_a_branch_of_a_remote_and_drawn(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "--quiet", str(remote)], check=True)
    assert history.read(str(remote)) == []  # no branch yet
    assert history.publish(result("a"), str(remote)) == 1
    assert history.publish(result("b"), str(remote)) == 2
    assert history.publish(result("b"), str(remote)) == 2  # a re-run replaces its commit's line
    assert history.publish(result("c", python="3.12.1"), str(remote)) == 3
    lines = history.read(str(remote))
    assert [line["commit"][0] for line in lines] == ["a", "b", "c"]
    branches = subprocess.run(["git", "branch", "--list"], cwd=remote, capture_output=True, text=True, check=True).stdout
    assert "bench-history" in branches
    out = tmp_path / "history.png"
    assert history.main(["draw", "--remote", str(remote), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_drawing_an_empty_history_says_so(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "--quiet", str(remote)], check=True)
    assert history.main(["draw", "--remote", str(remote), "--out", str(tmp_path / "h.png")]) == 2


def test_a_local_history_file_gets_one_line_per_run(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history.append(path, result("a"))
    history.append(path, result("b"))
    assert [json.loads(line)["commit"][0] for line in path.read_text().splitlines()] == ["a", "b"]
