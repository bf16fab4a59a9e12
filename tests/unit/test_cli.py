from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from fastauthz.dev.cli import main
from fastauthz.dev.issuer import DevIssuer
from testkit.authorizers import Logs, make_authorizer, outcome
from testkit.events import connect_event
from testkit.keys import jwks, write_jwks
from testkit.server import KeyServer
from testkit.tokens import NOW, claims, mint


def test_inspect_decodes_without_trusting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "Bearer " + mint("rsa-1")]) == 0
    out = capsys.readouterr().out
    assert "UNVERIFIED" in out and '"kid": "rsa-1"' in out


def test_inspect_refuses_what_is_not_a_jws(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "abc"]) == 2


def test_inspect_prints_the_fingerprint_that_the_refusal_log_line_carries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = mint("rsa-1", claims(exp=NOW - 3600))
    logs = Logs()
    authorizer = make_authorizer(write_jwks(tmp_path, "rsa-1"), logs=logs)
    assert outcome(authorizer, connect_event(token)) == ("unauthorized", "expired")
    assert main(["inspect", token]) == 0
    assert f"log fingerprint: {logs[-1]['token']} " in capsys.readouterr().out.splitlines()[0]


def test_token_mints_with_the_running_issuers_persisted_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with DevIssuer(audience="cli", state_dir=tmp_path) as issuer:
        assert main(["token", "--state", str(tmp_path), "--sub", "ada", "--ttl", "60", "--claim", 'tier="gold"', "--scope", "chat"]) == 0
        token = capsys.readouterr().out.strip()
        from fastauthz.authorizer import Authorizer
        from fastauthz.config import load_settings

        authorizer = Authorizer(load_settings(issuer.environment()), write=lambda line: None)
        result = authorizer.handle(connect_event(token))
        assert result["principalId"] == "ada"


def test_check_config_reports_keys_and_fails_on_bad_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with DevIssuer(audience="cli") as issuer:
        for name, value in issuer.environment().items():
            monkeypatch.setenv(name, value)
        assert main(["check-config"]) == 0
        assert issuer.current.kid in capsys.readouterr().out
        monkeypatch.setenv("JWT_ALGORITHMS", "none")
        assert main(["check-config"]) == 2
        assert "JWT_ALGORITHMS" in capsys.readouterr().err


@pytest.mark.parametrize("hook", ["nope.module:fn", "tests.hooks:no_such_function", "not a reference", "tests.broken_hook_module:rule"])
def test_check_config_reports_a_bad_hook_as_the_cold_start_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], hook: str
) -> None:
    from fastauthz.authorizer import Authorizer
    from fastauthz.errors import ConfigError

    with DevIssuer(audience="cli") as issuer:
        for name, value in {**issuer.environment(), "FASTAUTHZ_AUTHORIZE": hook}.items():
            monkeypatch.setenv(name, value)
        assert main(["check-config"]) == 2  # not a traceback
        assert capsys.readouterr().err.startswith("fastauthz check-config: configuration error: FASTAUTHZ_AUTHORIZE")
        with pytest.raises(ConfigError) as raised:
            Authorizer.from_env()
        assert raised.value.variable == "FASTAUTHZ_AUTHORIZE"


def test_the_issuer_serves_jwks_x509_and_rotates_on_command(tmp_path: Path) -> None:
    import urllib.request

    with DevIssuer(state_dir=tmp_path) as issuer:
        first = issuer.current.kid
        x509 = json.loads(urllib.request.urlopen(issuer.x509_uri, timeout=5).read())
        assert list(x509) == [first] and "BEGIN CERTIFICATE" in x509[first]
        assert main(["rotate", "--state", str(tmp_path)]) == 0
        kids = [k["kid"] for k in json.loads(urllib.request.urlopen(issuer.jwks_uri, timeout=5).read())["keys"]]
        assert kids != [first] and len(kids) == 1


def test_an_expired_token_is_refused_whatever_leeway_the_authorizer_allows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fastauthz.authorizer import Authorizer
    from fastauthz.config import load_settings
    from fastauthz.settings import MAX_LEEWAY_SECONDS

    with DevIssuer(audience="cli", state_dir=tmp_path) as issuer:
        assert main(["token", "--state", str(tmp_path), "--expired"]) == 0
        token = capsys.readouterr().out.strip()
        logs = Logs()
        lenient = Authorizer(load_settings({**issuer.environment(), "JWT_LEEWAY_SECONDS": str(MAX_LEEWAY_SECONDS)}), write=logs.write)
        assert outcome(lenient, connect_event(token)) == ("unauthorized", "expired")


def test_a_client_hanging_up_on_the_dev_issuer_prints_no_traceback(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import socket
    import struct
    import time

    with DevIssuer(audience="cli", state_dir=tmp_path) as issuer:
        host, port = issuer._server.server_address[:2]
        for _ in range(5):
            client = socket.create_connection((str(host), port))
            client.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n")  # headers never finished...
            time.sleep(0.05)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # ...then a reset, as a killed load-test client sends
        time.sleep(0.3)  # the handler threads see the resets
        assert urllib.request.urlopen(issuer.jwks_uri, timeout=5).status == 200  # still serving
    assert "Traceback" not in capfd.readouterr().err


@pytest.fixture
def idp(key_server: KeyServer) -> KeyServer:
    key_server.serve(b"<html>an issuer's home page</html>")
    key_server.serve_at("/.well-known/openid-configuration", {"issuer": key_server.base, "jwks_uri": key_server.base + "/oauth/keys"})
    key_server.serve_at("/oauth/keys", jwks("rsa-1"))
    return key_server


def test_check_config_discovers_the_keys_of_an_issuer_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], idp: KeyServer
) -> None:
    for name, value in {"JWT_ISSUER": idp.base, "JWT_AUTHORIZED_AUDIENCES": "cli"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("JWT_ISSUER_JWKS_URI", raising=False)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert f"keys from {idp.base}/oauth/keys (found by OIDC discovery): rsa-1" in out


def test_check_config_shows_origins_tickets_and_the_tenants_of_a_template(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key_server: KeyServer
) -> None:
    key_server.serve(jwks("rsa-1"))
    tenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
    for name, value in {
        "JWT_ISSUER": "https://login.microsoftonline.com/{tenantid}/v2.0",
        "JWT_TENANTS": tenant,
        "JWT_ISSUER_JWKS_URI": key_server.url,
        "JWT_AUTHORIZED_AUDIENCES": "api",
        "JWT_ALLOWED_ORIGINS": "https://app.example.com",
        "JWT_QUERY_TOKEN_MAX_AGE_SECONDS": "60",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "origins allowed: https://app.example.com" in out and "issued at most 60 s ago" in out
    assert f"accepted iss: https://login.microsoftonline.com/{tenant}/v2.0; tid must name the tenant" in out
    assert "rsa-1" in out


def test_a_snapshot_comes_from_a_file_a_key_url_or_an_issuer_resolved_as_the_handler_does(tmp_path: Path, idp: KeyServer) -> None:
    from fastauthz.errors import KeySetError
    from tools.package import add_snapshot

    (tmp_path / "keys.json").write_text(json.dumps(jwks("rsa-1")))
    for source in (str(tmp_path / "keys.json"), f"file://{tmp_path / 'keys.json'}", idp.base + "/oauth/keys", idp.base):
        target = tmp_path / "task"
        target.mkdir(exist_ok=True)
        assert add_snapshot(target, source) == 1
        assert json.loads((target / "jwks-snapshot.json").read_text())["keys"][0]["kid"] == "rsa-1"
    (tmp_path / "not-keys.json").write_text("{}")
    with pytest.raises(KeySetError):
        add_snapshot(tmp_path / "task", str(tmp_path / "not-keys.json"))


def test_check_config_catches_a_misspelled_setting_and_names_the_right_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with DevIssuer(audience="cli") as issuer:
        for name, value in issuer.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("JWT_REQUIRED_SCOPE", "chat")
        monkeypatch.setenv("JWT_LEWAY_SECONDS", "30")
        assert main(["check-config"]) == 2
        err = capsys.readouterr().err
        assert "JWT_REQUIRED_SCOPE is not a fastauthz setting and is ignored: did you mean JWT_REQUIRED_SCOPES?" in err
        assert "did you mean JWT_LEEWAY_SECONDS?" in err
        assert main(["check-config", "--allow-unknown"]) == 0


def test_a_misspelled_setting_is_a_warning_line_at_cold_start(tmp_path: Path) -> None:
    logs = Logs()
    make_authorizer(write_jwks(tmp_path, "rsa-1"), logs=logs, JWT_REQUIRED_SCOPE="chat")
    warnings = [line["message"] for line in logs if line["level"] == "WARN"]
    assert any("JWT_REQUIRED_SCOPE" in message and "JWT_REQUIRED_SCOPES" in message for message in warnings), warnings


@pytest.mark.parametrize(("status", "expected"), [(404, "HTTP 404"), (200, "")])
def test_check_config_says_why_keys_could_not_be_loaded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key_server: KeyServer, status: int, expected: str
) -> None:
    key_server.serve(b"not json at all", status=status)
    monkeypatch.setenv("JWT_ISSUER_JWKS_URI", key_server.url)
    monkeypatch.setenv("JWT_ISSUER", "https://issuer.example")
    monkeypatch.setenv("JWT_AUTHORIZED_AUDIENCES", "a")
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert f"could not load keys from {key_server.url}: " in err
    assert (expected or "JSON") in err, err


def test_check_config_says_a_refused_connection(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    server = KeyServer()
    url = server.url
    server.close()  # nothing listens there now: a real refused connection
    for name, value in {"JWT_ISSUER_JWKS_URI": url, "JWT_ISSUER": "https://issuer.example", "JWT_AUTHORIZED_AUDIENCES": "a"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JWT_JWKS_TIMEOUT_SECONDS", "1")
    assert main(["check-config"]) == 1
    assert "refused" in capsys.readouterr().err.lower()
