"""The `fastauthz` command: local stage, dev issuer, tokens, inspection, configuration check, sign-out.

fastauthz dev                  issuer (:8766) + stage (:8765), state in .fastauthz/
fastauthz issuer               the dev issuer alone
fastauthz stage                the local API Gateway WebSocket stage alone (authorizer configured from the environment)
fastauthz stage --http rest-token|rest-request|http-1.0|http-2.0   a local REST or HTTP API stage instead
fastauthz token --sub ada      a token from the running dev issuer's keys
fastauthz rotate               tell the running dev issuer to rotate its key
fastauthz inspect TOKEN        decoded header and claims (NOT verified)
fastauthz disconnect --sub S [--issuer I]   sign a user out: close the open connections of S (of issuer I; else of every issuer)
fastauthz check-config         validate the environment the handler would see, fetch its keys
fastauthz demo                 the scripted demo (make demo)
fastauthz loadtest --host wss://… --rate 100 --run-time 2m   load-test a stage (pip install 'fastauthz[loadtest]')
fastauthz loadtest-key --issuer https://loadtest.example.com --audience my-api   a load-test issuer to trust beside your IdP

Exit status: 0 done; 1 refused or failed (keys not loaded, a service not reachable); 2 usage or
configuration (a bad option or setting, a missing dependency or dev state); 130 interrupted.
A failure is one line on stderr that says what to do; --traceback shows Python's for a bug report.
"""

from __future__ import annotations

import argparse
import sys

from . import deployment, issuing, loadtesting, stages
from .errors import CommandError, explain

# Each group registers its commands (cut by what they act on: the dev issuer and its tokens, the
# local stages, a deployment's configuration and connections).
GROUPS = (stages, issuing, deployment, loadtesting)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastauthz", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traceback", action="store_true", help="on an unexpected error, show Python's traceback (for a bug report)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, passthrough = parser.parse_known_args(argv)  # a usage error: argparse's one line and exit status 2
    if passthrough and not getattr(args, "passes_through", False):
        parser.error(f"unrecognized arguments: {' '.join(passthrough)}")
    args.passthrough = passthrough
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except CommandError as error:
        print(f"fastauthz {args.command}: {error}", file=sys.stderr)
        return error.status
    except Exception as error:
        if args.traceback:
            raise
        message, status = explain(error)
        print(f"fastauthz {args.command}: {message}", file=sys.stderr)
        return status


__all__ = ["CommandError", "build_parser", "main"]
