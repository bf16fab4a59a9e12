"""A real browser (headless Chromium) against the local stage: the Origin allow-list stops cross-site
WebSocket hijacking with a cookie.

A page on the allowed origin stores the session cookie and opens a socket (allowed), then sends the
browser to a page on another origin, which opens a socket to the same stage. The browser attaches the
cookie to that handshake too (cookies are not bound to a port, and both pages are on 127.0.0.1's
site), so only the Origin check stands between that page and the user's connection.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fastauthz.dev.issuer import DevIssuer
from fastauthz.dev.runtime import FunctionSpec
from fastauthz.dev.stage import Stage, StageConfig
from testkit.browser import CHROMIUM, headless_chromium

REPORT_TIMEOUT_SECONDS = 60

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test: install chromium (.ci/run does, with apt-get)")
    pytest.skip("no chromium on this machine (apt-get install chromium): the browser test needs one", allow_module_level=True)

PAGE = """<!doctype html><meta charset="utf-8"><title>{name}</title><script>
const report = (result) => fetch("/report?page={name}&result=" + result);
{set_cookie}
const socket = new WebSocket("{stage}");
let opened = false;
socket.onopen = () => {{ opened = true; report("open"); socket.close(); }};
socket.onclose = () => {{ if (!opened) report("refused"); {then} }};
</script>"""


class Pages:
    """A page server on its own port (its own origin), reporting what its page saw into `reports`."""

    def __init__(self, reports: queue.Queue[tuple[str, str]]) -> None:
        self.body = b""
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/report":
                    query = dict(urllib.parse.parse_qsl(url.query))
                    reports.put((query["page"], query["result"]))
                    body = b""
                else:
                    body = pages.body
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_page_on_an_allowed_origin_connects_and_a_page_on_another_origin_is_denied() -> None:
    reports: queue.Queue[tuple[str, str]] = queue.Queue()
    app, evil = Pages(reports), Pages(reports)
    lines: list[str] = []
    try:
        with DevIssuer(audience="browser-test") as issuer:
            environment = {
                **issuer.environment(),
                "JWT_TOKEN_SOURCES": "cookie",
                "JWT_COOKIE_NAME": "session",
                "JWT_ALLOWED_ORIGINS": app.origin,
            }
            config = StageConfig(authorizer=FunctionSpec("fastauthz.handler:handler", env=environment, timeout=10.0), log=lines.append)

            async def scenario() -> dict[str, str]:
                stage = await Stage(config).start()
                try:
                    app.body = PAGE.format(
                        name="app",
                        stage=stage.url,
                        set_cookie=f'document.cookie = "session={issuer.mint()}; path=/; SameSite=Lax";',
                        then=f'location.href = "{evil.origin}/";',
                    ).encode()
                    evil.body = PAGE.format(name="evil", stage=stage.url, set_cookie="", then="").encode()
                    seen: dict[str, str] = {}
                    with headless_chromium(app.origin + "/"):
                        while len(seen) < 2:
                            page, result = await asyncio.to_thread(reports.get, timeout=REPORT_TIMEOUT_SECONDS)
                            seen[page] = result
                    return seen
                finally:
                    await stage.close()

            seen = asyncio.run(scenario())
    finally:
        app.close()
        evil.close()
    assert seen == {"app": "open", "evil": "refused"}, "\n".join(lines)
    refusals = [line for line in lines if '"reason":"bad_origin"' in line]
    assert len(refusals) == 1 and evil.origin in refusals[0], "\n".join(lines)
