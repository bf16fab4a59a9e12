"""The built wheel, installed into a fresh virtualenv outside the checkout, works as a user of
`pip install fastauthz` would use it: the CLI, a file-keyed configuration check, and the README's
ten-line library example."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from fastauthz.dev.issuer import DevIssuer
from testkit.wheel import install_wheel

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the wheel `python -m build` makes from this checkout, and nothing of the checkout."""
    work = tmp_path_factory.mktemp("wheel")
    install_wheel(work)
    return work


def run_installed(work: Path, *command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("JWT_", "FASTAUTHZ_", "PYTHON"))}
    return subprocess.run(
        [str(work / "venv" / "bin" / command[0]), *command[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=work,  # not the checkout: `import fastauthz` must find the installed wheel
        env={**clean, **(env or {})},
    )


def test_the_wheel_carries_the_runtime_and_the_cli_but_not_the_repository_tools(installed: Path) -> None:
    located = run_installed(
        installed, "python", "-c", "import fastauthz, fastauthz.authorizer; print(fastauthz.__file__, fastauthz.__version__)"
    )
    where, version = located.stdout.split()
    assert where.startswith(str(installed / "venv")), located.stdout
    assert version == re.search(r'__version__ = "([^"]+)"', (ROOT / "fastauthz" / "__init__.py").read_text())[1]  # type: ignore[index]
    assert run_installed(installed, "python", "-c", "import tools").returncode != 0
    help_text = run_installed(installed, "fastauthz", "--help")
    assert help_text.returncode == 0 and "check-config" in help_text.stdout


def test_check_config_and_the_readme_library_example_on_file_keys(installed: Path) -> None:
    with DevIssuer(audience="wheel-app") as issuer:
        keys = installed / "jwks.json"
        keys.write_text(json.dumps(issuer.jwks()))
        env = {"JWT_ISSUER_JWKS_URI": keys.as_uri(), "JWT_ISSUER": issuer.issuer, "JWT_AUTHORIZED_AUDIENCES": "wheel-app"}
        token = issuer.mint(sub="ada")
    checked = run_installed(installed, "fastauthz", "check-config", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Your own handler in ten lines") :]
    example = re.search(r"```python\n(.*?)```", section, re.S)[1]  # type: ignore[index]
    script = installed / "example.py"
    script.write_text(
        example + f"\nprint(on_connect({token!r}))\ntry:\n    on_connect('not.a.token')\nexcept PermissionError as e:\n    print(e)\n"
    )
    ran = run_installed(installed, "python", str(script), env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-2:] == ["ada", "malformed"]  # after the key store's log line


def test_the_local_stage_commands_name_the_extra_they_need(installed: Path) -> None:
    """The base install is the runtime; the dev issuer and local stage come with fastauthz[local]."""
    completed = run_installed(installed, "fastauthz", "token", "--state", str(installed / "state"))
    assert completed.returncode == 2
    assert "pip install 'fastauthz[local]'" in completed.stderr
