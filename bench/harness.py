"""The command line the wall-clock harnesses in bench/ share: how many repetitions, the table on
stdout, and the JSON that bench/report.py reads (`--json PATH`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main(
    doc: str | None,
    argv: list[str] | None,
    measure: Callable[[argparse.Namespace], Any],
    render: Callable[[Any, argparse.Namespace], str],
    repeat: tuple[str, int] = ("--rounds", 15),
    options: Callable[[argparse.ArgumentParser], object] | None = None,
) -> int:
    """Parse `repeat` (its flag and default), `--json` and any `options`; print render(measure(args), args)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(repeat[0], type=int, default=repeat[1], help=f"repetitions (default {repeat[1]}; medians are reported)")
    parser.add_argument("--json", help="write the results here (bench/report.py reads them)")
    if options is not None:
        options(parser)
    args = parser.parse_args(argv)
    result = measure(args)
    print(render(result, args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0
