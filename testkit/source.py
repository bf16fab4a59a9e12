"""The Lambda package's source as syntax trees, for the checks that read it (reason codes, metric
names): every module but the tooling under fastauthz/dev/."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import fastauthz

PACKAGE = Path(fastauthz.__file__).parent


def package_nodes() -> Iterator[ast.AST]:
    """Every node of every module of the Lambda package (fastauthz/ without dev/)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "dev" not in path.relative_to(PACKAGE).parts:
            yield from ast.walk(ast.parse(path.read_text()))
