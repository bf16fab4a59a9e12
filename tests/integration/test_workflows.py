"""The project's own GitHub Actions workflows, checked offline: actionlint (from PyPI), and the CI
workflow kept in step with .ci/run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def test_actionlint_accepts_the_workflows() -> None:
    actionlint = Path(sys.executable).parent / "actionlint"
    completed = subprocess.run([str(actionlint), *map(str, sorted(WORKFLOWS.glob("*.yml")))], capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_workflows_run_every_make_target_of_ci_run() -> None:
    local = re.findall(r"^make ([\w-]+)", (ROOT / ".ci" / "run").read_text(), re.M)
    hosted = []
    for workflow in ("ci.yml", "bench.yml"):
        for job in yaml.safe_load((WORKFLOWS / workflow).read_text())["jobs"].values():
            hosted += [match for step in job["steps"] for match in re.findall(r"^\s*make ([\w-]+)", step.get("run", ""), re.M)]
    assert local and [target for target in local if target not in hosted] == []


def test_the_readmes_gate_recipe_is_the_projects_own_workflow() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(# \.github/workflows/bench\.yml\n.*?)```", readme, re.S)
    assert block is not None, "the README's bench.yml recipe is missing"
    assert block.group(1) == "# .github/workflows/bench.yml\n" + (WORKFLOWS / "bench.yml").read_text()


def test_the_release_publishes_through_trusted_publishing_only() -> None:
    release = yaml.safe_load((WORKFLOWS / "release.yml").read_text())
    publish = release["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert any(str(step.get("uses", "")).startswith("pypa/gh-action-pypi-publish@") for step in publish["steps"])
    assert "secrets." not in (WORKFLOWS / "release.yml").read_text()  # no API token anywhere
