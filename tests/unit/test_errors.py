"""The one table of reason codes (fastauthz.errors.REASONS): every code the package can produce is
in it, the README lists exactly it, and the rejected-token cache's rule comes from it."""

from __future__ import annotations

import ast

from fastauthz import authorizer
from fastauthz.errors import LASTING_REASONS, REASON_CODES, REASONS, Rejected, Unauthorized
from testkit.source import package_nodes
from tools.readme import README, generated


def codes_in_the_source() -> set[str]:
    """Literal reason codes at raise and log sites: Rejected("code", ...), reason="code", Reason("code", ...)."""
    found: set[str] = set()
    for node in package_nodes():
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name in ("Rejected", "_refusal") and node.args and isinstance(node.args[0], ast.Constant):
            found.add(str(node.args[0].value))
        for keyword in node.keywords:
            if keyword.arg == "reason" and isinstance(keyword.value, ast.Constant):
                found.add(str(keyword.value.value))
    return found | codes_assigned()


def codes_assigned() -> set[str]:
    """`reason = "code"` in class bodies (KeysUnavailable, ConfigError, ...): codes too."""
    found: set[str] = set()
    for node in package_nodes():
        target: ast.expr
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign):
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "reason" and isinstance(value, ast.Constant):
            found.add(str(value.value))
    return found


def test_every_reason_assigned_to_an_exception_class_is_in_the_table() -> None:
    assigned = codes_assigned()
    assert {"keys_unavailable", "bad_key_set", "bad_config", "internal_error"} <= assigned
    assert assigned <= REASON_CODES, sorted(assigned - REASON_CODES)


def test_every_code_the_package_raises_or_logs_is_in_the_table() -> None:
    used = codes_in_the_source()
    assert used, "the scan found no raise sites: it is broken"
    assert used <= REASON_CODES, sorted(used - REASON_CODES)


def test_codes_are_unique_and_statuses_known() -> None:
    assert len(REASON_CODES) == len(REASONS)
    assert {status for _, status, _, _ in REASONS} <= {0, 401, 403, 500}
    assert all(status == 401 for _, status, lasting, _ in REASONS if lasting)


def test_the_readme_lists_exactly_the_table() -> None:
    text = README.read_text()
    assert generated(text) == text, "run `make readme`"
    for code, _, _, _ in REASONS:
        assert f"| `{code}` |" in text


def test_the_rejected_token_cache_remembers_what_the_table_calls_lasting() -> None:
    assert vars(authorizer)["LASTING_REASONS"] is LASTING_REASONS
    assert {"expired", "bad_signature", "malformed"} <= LASTING_REASONS
    assert not {"unknown_kid", "not_yet_valid", "issued_in_future", "keys_unavailable"} & LASTING_REASONS


def test_a_hooks_unauthorized_is_a_rejection_with_its_own_reason() -> None:
    error = Unauthorized("session revoked")
    assert isinstance(error, Rejected)
    assert (error.reason, error.detail) == ("hook_unauthorized", "session revoked")
    assert Unauthorized().detail == ""
