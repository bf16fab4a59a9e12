"""What the `fastauthz` command says when something fails: one line a person can act on, and an
exit status (2: usage or configuration; 1: refused or failed). Never a traceback for a user's input
or missing setup; an error nobody foresaw is named as a bug."""

from __future__ import annotations

import errno

# What the local stage, dev issuer and registry need beyond the runtime (pip install 'fastauthz[local]'),
# and what the load test needs beyond them (pip install 'fastauthz[loadtest]').
EXTRAS = {
    **dict.fromkeys(("joserfc", "websockets", "orjson", "boto3", "botocore", "moto"), "local"),
    **dict.fromkeys(("locust", "gevent", "websocket", "requests"), "loadtest"),
}


class CommandError(Exception):
    """A failure with its one-line explanation and exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def explain(error: BaseException) -> tuple[str, int]:
    """(one line, exit status) for an exception a command let through."""
    from ...errors import ConfigError, Rejected

    kind = type(error).__name__
    if isinstance(error, ConfigError):
        return f"configuration error: {error}", 2
    if isinstance(error, Rejected):
        return f"refused: {error}", 1
    if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in EXTRAS:
        extra = EXTRAS[(error.name or "").split(".")[0]]
        return f"needs {error.name}, one of the {extra} tools' packages: pip install 'fastauthz[{extra}]'", 2
    # botocore's, by name: importing botocore to compare would cost the commands that never use it.
    if kind == "NoRegionError":
        return "no AWS region: set AWS_REGION (against fastauthz dev: --state DIR, default .fastauthz)", 2
    if kind in ("NoCredentialsError", "PartialCredentialsError"):
        return "no AWS credentials: set them as boto3 reads them (against fastauthz dev: --state DIR)", 2
    if kind in ("EndpointConnectionError", "ConnectTimeoutError"):
        return f"cannot reach {getattr(error, 'kwargs', {}).get('endpoint_url', 'the endpoint')}: is it running?", 1
    if kind == "ClientError":
        details = getattr(error, "response", {}).get("Error", {})
        return f"AWS answered {details.get('Code', 'an error')}: {details.get('Message', error)}", 1
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        return "an address is already in use (another fastauthz dev or stage?): stop it, or pass other --port / --issuer-port", 1
    if kind == "URLError":
        return f"cannot reach it: {getattr(error, 'reason', error)}", 1
    if isinstance(error, FileNotFoundError):
        return str(error), 2
    return f"unexpected {kind}: {error} (a bug: run again with --traceback and report it)", 1
