"""The claims ledger: every claim passes, every wrong variant is rejected, the page is current.

The whole ledger is checked once per session (``results``); the parametrized tests read that one
run, so each claim and each wrong variant is its own test id without checking anything twice.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
import sympy as sp

from verified_transformer.claims import BY_ID, CLAIMS, Claim, Result, check, get
from verified_transformer.claims.__main__ import main
from verified_transformer.claims.numeric import Mismatch
from verified_transformer.claims.report import label, markdown_page, text_table

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "book" / "claims_ledger.md"
REQUIRED = {
    "attention.qkv_projections",
    "attention.dot_product_variance",
    "attention.scaled_variance",
    "softmax.shift_invariance",
    "softmax.jacobian",
    "attention.multihead_concat",
    "attention.permutation_equivariance",
    "attention.mask_renormalizes",
    "residual.unrolled_sum",
    "residual.jacobian_paths",
    "residual.gradient_identity_term",
    "layernorm.moments",
    "layernorm.shift_invariance",
    "layernorm.scale_invariance",
    "layernorm.jacobian",
    "layernorm.jacobian_nullspace",
    "layernorm.invariance_table",
    "rmsnorm.equals_layernorm_when_centered",
    "postln.definition",
    "preln.definition",
    "seed.qkv_circular",
    "seed.scale_outside_exp",
    "seed.double_softmax",
    "seed.residual_concat",
    "seed.ffn_shape",
    "layernorm.unbiased_ratio",
    "scalenorm.is_scaled_rmsnorm",
    "residual.scaled_init",
    "admin.residual",
    "rezero.identity_at_init",
    "preln.identity_path",
    "postln.no_identity_path",
    "layernorm.scale_with_eps",
    "layernorm.jacobian_spectrum",
}
VARIANTS = [(c.id, name) for c in CLAIMS for name in c.wrong]


@cache
def results() -> dict[str, Result]:
    """The ledger, checked once per test session."""
    return {c.id: check(c) for c in CLAIMS}


def test_ledger_has_the_required_claims() -> None:
    assert len(CLAIMS) >= 25
    assert REQUIRED <= set(BY_ID)


@pytest.mark.parametrize("claim_id", [c.id for c in CLAIMS])
def test_claim_passes(claim_id: str) -> None:
    r = results()[claim_id]
    assert r.error is None, r.error
    assert r.symbolic
    assert r.numeric is not False
    assert r.passed


@pytest.mark.parametrize(("claim_id", "variant"), VARIANTS, ids=[f"{c}:{v}" for c, v in VARIANTS])
def test_wrong_variant_is_rejected(claim_id: str, variant: str) -> None:
    """A symbolic check that accepted this deliberately wrong formula would be vacuous."""
    assert results()[claim_id].rejected[variant] is True


def test_every_claim_has_a_wrong_variant_and_a_known_source() -> None:
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for c in CLAIMS:
        assert c.wrong, c.id
        assert c.source in keys, c.id
        assert "|" not in c.statement, c.id  # would split the ledger table's row


def test_a_claim_without_wrong_variants_is_refused() -> None:
    with pytest.raises(ValueError, match="wrong"):
        Claim("x.y", "1 = 1", "ba2016layer", "none", 1, lambda f: True, {})


def test_a_crashing_or_vacuous_check_fails_the_claim() -> None:
    def crash(formula: object) -> bool:
        raise ZeroDivisionError("boom")

    crashed = check(Claim("x.crash", "0", "ba2016layer", "none", 1, crash, {"w": 2}))
    assert not crashed.passed and "ZeroDivisionError" in crashed.error
    vacuous = check(Claim("x.vacuous", "0", "ba2016layer", "none", 1, lambda f: True, {"w": 2}))
    assert vacuous.symbolic and vacuous.rejected == {"w": False} and not vacuous.passed
    failing_numeric = check(
        Claim(
            "x.num",
            "0",
            "ba2016layer",
            "none",
            1,
            lambda f: f == 1,
            {"w": 2},
            numeric=lambda f: False,
        )
    )
    assert failing_numeric.numeric is False and not failing_numeric.passed


def test_get_names_unknown_ids() -> None:
    assert get("softmax.jacobian") is BY_ID["softmax.jacobian"]
    with pytest.raises(KeyError, match="unknown claim"):
        get("softmax.nope")


def test_ledger_page_is_current() -> None:
    """Fails when book/claims_ledger.md differs from what the ledger generates: regenerate with
    ``python -m verified_transformer.claims --markdown book/claims_ledger.md``."""
    expected = markdown_page([results()[c.id] for c in CLAIMS])
    assert PAGE.read_text(encoding="utf-8") == expected


def test_ledger_page_labels_every_claim_once() -> None:
    page = markdown_page([results()[c.id] for c in CLAIMS])
    labels = re.findall(r"^\((claim-[^)]+)\)=$", page, flags=re.M)
    assert labels == [label(c.id) for c in CLAIMS]
    assert label("layernorm.jacobian") == "claim-layernorm-jacobian"
    assert page.count("\n| {ref}`") == len(CLAIMS)


def test_text_table_is_deterministic_and_summarizes() -> None:
    rows = [results()[c.id] for c in CLAIMS]
    table = text_table(rows)
    assert table == text_table(rows)
    assert table.endswith(f"{len(CLAIMS)} claims: {len(CLAIMS)} passed, 0 failed\n")
    assert "seconds" not in table and "seconds" in text_table(rows, timing=True)


def test_cli_json_records(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "softmax.sums_to_one", "seed.ffn_shape"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in records] == ["softmax.sums_to_one", "seed.ffn_shape"]
    for r in records:
        assert {"id", "statement", "source", "scope", "symbolic", "numeric", "passed"} <= set(r)
        assert r["symbolic"] is True and r["numeric"] is True and r["passed"] is True


def test_cli_exits_nonzero_when_a_claim_fails(capsys: pytest.CaptureFixture[str]) -> None:
    broken = Claim(
        "x.broken",
        "1 = 2",
        "ba2016layer",
        "none",
        sp.Integer(1),
        lambda f: f == 2,
        {"two": sp.Integer(2)},
    )
    assert main([], claims=[broken]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_rejects_unknown_ids(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["no.such_claim"])
    assert excinfo.value.code == 2
    assert "unknown claim" in capsys.readouterr().err


NUMERIC_REJECTIONS = [
    ("softmax.jacobian", "diag(p) alone"),
    ("attention.scaled_variance", "1/d_k scaling"),
    ("attention.multihead_concat", "mean of heads"),
    ("attention.mask_renormalizes", "0/1 float mask added"),
    ("attention.causal_mask", "upper triangle kept (c >= r)"),
    ("residual.jacobian_paths", "factors in reverse order"),
    ("layernorm.definition", "unbiased variance 1/(n-1)"),
    ("layernorm.definition", "epsilon outside the square root"),
    ("layernorm.jacobian", "missing -xhat xhat^T / n"),
    ("rmsnorm.definition", "epsilon outside the square root"),
    ("layernorm.unbiased_ratio", "inverted sqrt(n/(n-1))"),
    ("scalenorm.is_scaled_rmsnorm", "gamma_i = g (missing 1/sqrt(n))"),
    ("residual.scaled_init", "1/N scaling"),
    ("admin.residual", "norm inside the branch (Pre-LN)"),
    ("rezero.identity_at_init", "alpha = 1 (plain residual)"),
    ("postln.definition", "Pre-LN order"),
    ("preln.definition", "Post-LN order"),
    ("preln.identity_path", "Post-LN form N (I + J)"),
    ("postln.no_identity_path", "Pre-LN form I + J N"),
    ("layernorm.scale_with_eps", "eps unchanged (exact invariance)"),
    ("layernorm.jacobian_spectrum", "eigenvalue 1 along xhat"),
    ("seed.scale_outside_exp", "article, normalized: exp(s)/sqrt(d_k) / sum"),
    ("seed.double_softmax", "article: softmax(exp(s)/sqrt(d_k))"),
]


@pytest.mark.parametrize(("claim_id", "variant"), NUMERIC_REJECTIONS)
def test_numeric_check_rejects_a_wrong_variant_too(claim_id: str, variant: str) -> None:
    """The float64 comparison with our nn and torch's is not vacuous either."""
    claim = get(claim_id)
    try:
        holds = claim.numeric(claim.wrong[variant])
    except Mismatch:
        holds = False
    assert holds is False
