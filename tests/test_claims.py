"""The claims ledger: every claim passes, every wrong variant is rejected, the page is current,
the displays are generated from the checked formulas, the checks themselves can fail (torch's
half included), and ``check_formula`` answers readers.

The whole ledger is checked once per session (``results``); the parametrized tests read that one
run, so each claim and each wrong variant is its own test id without checking anything twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
from functools import cache
from pathlib import Path

import pytest
import sympy as sp
import torch

from verified_transformer.claims import (
    BY_ID,
    CLAIMS,
    MODULES,
    ORDER_PROBLEMS,
    Claim,
    Result,
    check_formula,
    get,
    verify,
)
from verified_transformer.claims.__main__ import main
from verified_transformer.claims.ledger import CITATIONS
from verified_transformer.claims.numeric import Mismatch
from verified_transformer.claims.report import text_table

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {
    "attention.qkv_projections",
    "attention.dot_product_variance",
    "attention.scaled_variance",
    "softmax.definition",
    "softmax.shift_invariance",
    "softmax.jacobian",
    "attention.scaled_dot_product_definition",
    "attention.multihead_concat",
    "attention.permutation_equivariance",
    "attention.mask_renormalizes",
    "attention.causal_mask",
    "residual.block",
    "residual.unrolled_sum",
    "residual.jacobian_paths",
    "residual.gradient_identity_term",
    "layernorm.definition",
    "layernorm.moments",
    "layernorm.shift_invariance",
    "layernorm.scale_invariance",
    "layernorm.jacobian",
    "layernorm.jacobian_nullspace",
    "layernorm.invariance_table",
    "rmsnorm.definition",
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
DEFINITIONS = [c.id for c in CLAIMS if c.kind == "definition"]


@cache
def results() -> dict[str, Result]:
    """The ledger, checked once per test session."""
    return {c.id: verify(c) for c in CLAIMS}


# --- registration and order -----------------------------------------------------------------------


def test_ledger_has_the_required_claims_in_the_stated_book_order() -> None:
    assert REQUIRED <= set(BY_ID)
    assert ORDER_PROBLEMS == (), ORDER_PROBLEMS


def test_topic_modules_do_not_import_each_other() -> None:
    topics = {name.rsplit(".", 1)[1] for name in MODULES}
    folder = ROOT / "src" / "verified_transformer" / "claims"
    for topic in topics:
        text = (folder / f"{topic}.py").read_text(encoding="utf-8")
        imported = set(re.findall(r"verified_transformer\.claims\.(\w+)", text))
        assert not imported & (topics - {topic}), (topic, imported & topics)


# --- every claim passes, every variant is rejected ------------------------------------------------


@pytest.mark.parametrize("claim_id", [c.id for c in CLAIMS])
def test_claim_passes(claim_id: str) -> None:
    r = results()[claim_id]
    assert r.error is None, f"{claim_id}: {r.error}"
    assert r.symbolic, claim_id
    assert r.numeric is not False, claim_id
    assert r.passed, f"{claim_id}: {r.verdict}"


@pytest.mark.parametrize(("claim_id", "variant"), VARIANTS, ids=[f"{c}:{v}" for c, v in VARIANTS])
def test_wrong_variant_is_rejected(claim_id: str, variant: str) -> None:
    """A symbolic check that accepted this deliberately wrong formula would be vacuous."""
    assert results()[claim_id].rejected[variant] is True, f"{claim_id} accepts {variant!r}"


# --- kinds, verdicts, sources ---------------------------------------------------------------------


def test_every_claim_has_an_honest_kind_and_verdict() -> None:
    """A definition is compared with torch's kernel, never proved; a passing claim's verdict is
    its claim's sentences, plain text."""
    for c in CLAIMS:
        line = results()[c.id].verdict
        assert line == c.verdict and not line.startswith("FAILED"), (c.id, line)
        assert "\n" not in line and "$" not in line and "`" not in line, c.id
        if c.kind == "definition":
            assert c.proof != "proved" and "Proved" not in line, c.id
            assert c.compared and c.compared[0].startswith("torch"), c.id


def test_verdict_of_a_failing_claim_says_failed_and_why() -> None:
    broken = verify(_toy("x.broken", symbolic=lambda f: f == 2))
    assert not broken.passed
    assert broken.verdict == (
        "FAILED: the symbolic check does not hold; wrong variants accepted: two")
    lax = verify(_toy("x.lax", symbolic=lambda f: True))
    assert lax.verdict == "FAILED: wrong variants accepted: two"


def test_sources_name_who_said_what() -> None:
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    entries = dict(re.findall(r"@\w+\{([^,]+),(.*?)\n\}", bib, flags=re.S))
    for c in CLAIMS:
        for key in c.source_keys:
            assert key in entries, (c.id, key)
        if c.origin == "standard":
            assert c.source is None and c.attribution == "standard mathematics", c.id
        if c.origin == "derived":
            assert c.attribution.startswith("derived here, building on "), c.id
    for key, citation in CITATIONS.items():
        if key not in entries:
            continue
        fields = entries[key]
        author = re.search(r"author\s*=\s*\{([^,}]+)", fields).group(1).strip()
        year = re.search(r"year\s*=\s*\{(\d{4})[ab]?\}", fields).group(1)  # 2016a: He et al.
        assert citation.startswith(author.strip("{}")) and year in citation, (key, citation)
    assert get("postln.definition").source == "vaswani2017attention"
    assert get("preln.definition").source == "wang2019learning"
    assert "radford2019language" in get("preln.definition").source_keys
    assert all(get(i).origin == "standard" for i in BY_ID if i.startswith("softmax."))
    for i in ("layernorm.jacobian", "layernorm.jacobian_spectrum", "layernorm.jacobian_nullspace"):
        assert get(i).origin == "derived", i


# --- the displayed text is the checked formula ----------------------------------------------------


@pytest.mark.parametrize("claim_id", [c.id for c in CLAIMS])
def test_displays_are_generated_from_the_formula(claim_id: str) -> None:
    """Each display is LaTeX generated by the claim's render from its formula: rendering a wrong
    variant instead changes at least one display (so a slip in the formula shows on the page,
    and fails the check)."""
    c = get(claim_id)
    assert c.displays and all(isinstance(d, str) and d.strip() for d in c.displays), claim_id
    assert all(d.count("{") == d.count("}") for d in c.displays), claim_id
    changed = 0
    for variant in c.variants.values():
        try:
            shown = c.show(variant)
        except Exception:  # a variant the renderer cannot even print is visibly different
            changed += 1
            continue
        changed += shown != c.displays
    assert changed >= 1, f"{claim_id}: no wrong variant changes its displays"


PARSED_BACK = [
    ("layernorm.definition", 0),
    ("rmsnorm.definition", 0),
    ("softmax.definition", 0),
    ("attention.scaled_dot_product_definition", 0),
    ("postln.definition", 0),
    ("postln.definition", 1),
    ("preln.definition", 0),
    ("preln.definition", 1),
    ("residual.block", 0),
]


@pytest.mark.parametrize(("claim_id", "index"), PARSED_BACK)
def test_a_display_parses_back_to_the_checked_formula(claim_id: str, index: int) -> None:
    """The printed LaTeX, read back by check_formula's parser, is the claim's formula: the printer
    shows what the check runs on."""
    text = get(claim_id).display(index)
    if claim_id in {"postln.definition", "preln.definition"} and index == 0:
        text = text.replace(r"\mathrm{LN}", r"\mathrm{LN}_1").replace("F", r"\mathrm{SA}")
        text = text.replace("x_{l}", "x").split("=", 1)[1]
        answer = check_formula(claim_id, text)
        assert not answer.startswith("Cannot"), (claim_id, answer)
        return
    answer = check_formula(claim_id, text)
    assert answer.startswith(f"Equal to {claim_id}"), (claim_id, text, answer)


def test_display_index_out_of_range_names_the_claim() -> None:
    with pytest.raises(IndexError, match="layernorm.definition"):
        get("layernorm.definition").display(99)


# --- checks that are themselves checked -----------------------------------------------------------

TORCH_HALVES = [
    ("layernorm.definition", torch.nn.functional, "layer_norm"),
    ("rmsnorm.definition", torch.nn.functional, "rms_norm"),
    ("softmax.definition", torch.nn.functional, "softmax"),
    (
        "attention.scaled_dot_product_definition",
        torch.nn.functional,
        "scaled_dot_product_attention",
    ),
    ("postln.definition", torch.nn.TransformerEncoderLayer, "forward"),
    ("layernorm.jacobian", torch.nn.functional, "layer_norm"),
    ("mixln.layout", torch.nn.TransformerEncoderLayer, "forward"),
    ("qknorm.logit_bound", torch.nn.functional, "rms_norm"),
]


@pytest.mark.parametrize(("claim_id", "owner", "name"), TORCH_HALVES)
def test_numeric_check_fails_and_names_torch_when_torch_disagrees(
    claim_id: str, owner: object, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make torch's answer differ: the numeric check must fail, and say that torch disagrees
    (not our code): the torch half of the comparison really runs."""
    original = getattr(owner, name)

    def perturbed(*args: object, **kwargs: object) -> torch.Tensor:
        return original(*args, **kwargs) * (1 + 1e-6) + 1e-6

    monkeypatch.setattr(owner, name, perturbed)
    claim = get(claim_id)
    with pytest.raises(Mismatch, match="torch") as excinfo:
        claim.numeric_holds(claim.formula)
    assert "verified_transformer.nn" not in str(excinfo.value), excinfo.value
    result = verify(claim)
    assert not result.passed and "torch.nn" in (result.error or ""), result.error


NUMERIC_REJECTIONS = [
    ("softmax.definition", "exp(2 z_i) / sum_k exp(2 z_k) (temperature 1/2)"),
    ("softmax.jacobian", "diag(p) alone"),
    ("attention.scaled_variance", "1/d_k scaling"),
    ("attention.scaled_variance", "no scaling"),
    ("attention.scaled_dot_product_definition", "no scaling"),
    ("attention.multihead_concat", "mean of heads"),
    ("attention.mask_renormalizes", "0/1 float mask added"),
    ("attention.causal_mask", "upper triangle kept (c >= r)"),
    ("attention.causal_mask", "only the diagonal kept (blocks the past)"),
    ("residual.block", "Jacobian without I"),
    ("residual.jacobian_paths", "factors in reverse order"),
    ("layernorm.definition", "unbiased variance 1/(n-1)"),
    ("layernorm.definition", "epsilon outside the square root"),
    ("layernorm.definition", "sign flipped"),
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
    ("periln.definition", "Pre-LN (no output norm)"),
    ("periln.definition", "output norm only (OLMo 2)"),
    ("outputnorm.definition", "Peri-LN (input norm too)"),
    ("preln.stream_variance_growth", "s^2 + L^2 v (fully correlated increments)"),
    ("periln.increment_bound", "max|g| / 2"),
    ("qknorm.logit_bound", "max|g_q| max|g_k| (without sqrt(d))"),
    ("dyt.definition", "tanh(x) without alpha"),
    ("dyt.invariance_row", "the LayerNorm row"),
    ("ngpt.update", "branch output not normalized"),
    ("mixln.layout", "ceil(alpha L) Post-LN layers"),
]


@pytest.mark.parametrize(("claim_id", "variant"), NUMERIC_REJECTIONS)
def test_numeric_check_rejects_a_wrong_variant_too(claim_id: str, variant: str) -> None:
    """The float64 comparison with our nn and torch's is not vacuous either."""
    claim = get(claim_id)
    try:
        holds = claim.numeric_holds(claim.variants[variant])
    except Mismatch:
        holds = False
    assert holds is False


def test_causal_variants_err_both_ways() -> None:
    """Some wrong causal masks read the future, others block the past: a check that verified only
    one of "no future position is read" and "every past position is read" would accept some."""
    from verified_transformer.derive.attention import Mask

    future = past = 0
    for chains in get("attention.causal_mask").variants.values():  # chain 0: the mask's entries
        mask = next(iter(chains[0][0].atoms(Mask))).keep(4)
        future += any(mask[r][c] for r in range(4) for c in range(4) if c > r)
        past += any(not mask[r][c] for r in range(4) for c in range(4) if c <= r)
    assert future >= 2 and past >= 2


def _derive_calls(notebook: Path) -> set[tuple[str, str]]:
    """``(module, function)`` for every derivation a notebook's code calls."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    aliases = dict(
        (alias, module)
        for module, alias in re.findall(
            r"from verified_transformer\.derive import (\w+) as (\w+)", source
        )
    )
    return {
        (aliases[alias], name)
        for alias, name in re.findall(r"\b(\w+)\.(\w+)\(", source)
        if alias in aliases
    }


def test_every_derivation_the_notebooks_show_is_compared_by_a_claim_or_test() -> None:
    """A formula printed from derive/ that nothing compares would be pinned only by a stored
    output: each derive function a notebook calls is used by a claim module or a derive test."""
    checkers = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [
            *(ROOT / "src" / "verified_transformer" / "claims").glob("*.py"),
            *(ROOT / "tests").glob("test_derive_*.py"),
        ]
    )
    helpers = {"symbol_matrix", "heads_and_blocks", "branches", "noncommutative_jacobians",
               "noncommutative_norm_jacobians", "substitute_inputs", "shape_mismatches"}
    missing = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for module, name in sorted(_derive_calls(notebook)):
            if name in helpers:
                continue
            if not re.search(rf"\b\w+\.{name}\b", checkers):
                missing.append(f"{notebook.name}: derive.{module}.{name}")
    assert not missing, missing


# --- the record itself ----------------------------------------------------------------------------


def _toy(claim_id: str, **overrides: object) -> Claim:
    fields = {
        "id": claim_id,
        "kind": "identity",
        "render": lambda f: (f"{f} = 1",),
        "source": "ba2016layer",
        "scope": "none",
        "formula": 1,
        "symbolic": lambda f: f == 1,
        "wrong": {"two": 2},
        "custom": "a toy check",
    }
    return Claim(**(fields | overrides))


def test_an_equation_is_proved_by_the_one_checker_and_its_condition_shown() -> None:
    """A claim without its own check is its chains: proved with the ``where`` pairs substituted
    (here a condition), each variant refuted, all of it printed; its own check needs a reason."""
    u, v = sp.symbols("u v", positive=True)
    toy = Claim(id="x.eq", kind="identity", source=None, origin="standard", scope="v = 0",
                formula=((u * (u + v), u**2),), where=((v, 0),),
                wrong={"sign": (u * (u - v), -(u**2)), "no condition": {0: (u * (u + 1), u**2)}})
    assert verify(toy).passed and toy.displays == ("u \\left(u + v\\right) = u^{2}", "v = 0")
    assert not verify(dataclasses.replace(toy, where=())).passed
    with pytest.raises(ValueError, match="custom"):
        _toy("x.y", custom="")


def test_a_claim_without_wrong_variants_or_with_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="wrong"):
        _toy("x.y", wrong={})
    with pytest.raises(ValueError, match="kind"):
        _toy("x.y", kind="theorem")
    with pytest.raises(ValueError, match="source"):
        _toy("x.y", origin="standard")
    with pytest.raises(ValueError, match="definition"):
        _toy("x.y", kind="definition", proof="proved")


def test_a_crashing_or_vacuous_check_fails_the_claim() -> None:
    def crash(formula: object) -> bool:
        raise ZeroDivisionError("boom")

    crashed = verify(_toy("x.crash", symbolic=crash))
    assert not crashed.passed and "ZeroDivisionError" in crashed.error
    vacuous = verify(_toy("x.vacuous", symbolic=lambda f: True))
    assert vacuous.symbolic and vacuous.rejected == {"two": False} and not vacuous.passed
    failing_numeric = verify(_toy("x.num", numeric=lambda f: False))
    assert failing_numeric.numeric is False and not failing_numeric.passed
    no_display = verify(_toy("x.nodisplay", render=lambda f: ()))
    assert not no_display.passed and "display" in no_display.error


def test_get_names_unknown_ids() -> None:
    assert get("softmax.jacobian") is BY_ID["softmax.jacobian"]
    with pytest.raises(KeyError, match="unknown claim"):
        get("softmax.nope")


def test_text_table_summarizes() -> None:
    rows = [results()[c.id] for c in CLAIMS]
    table = text_table(rows)
    assert table.endswith(f"{len(CLAIMS)} claims: {len(CLAIMS)} passed, 0 failed\n")
    assert "seconds" not in table and "seconds" in text_table(rows, timing=True)


def test_cli_json_records(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "softmax.sums_to_one", "seed.ffn_shape"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in records] == ["softmax.sums_to_one", "seed.ffn_shape"]
    for r in records:
        assert {"id", "kind", "displays", "verdict", "source", "scope", "passed"} <= set(r)
        assert r["symbolic"] is True and r["numeric"] is True and r["passed"] is True


def test_cli_exits_nonzero_when_a_claim_fails(capsys: pytest.CaptureFixture[str]) -> None:
    broken = _toy("x.broken", formula=sp.Integer(1), symbolic=lambda f: f == 2)
    assert main([], claims=[broken]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_rejects_unknown_ids(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["no.such_claim"])
    assert excinfo.value.code == 2
    assert "unknown claim" in capsys.readouterr().err


# --- check_formula: a reader's own formula ---------------------------------------------------

EQUAL_REWRITES = [
    ("layernorm.definition", r"\gamma_i \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta_i"),
    (
        "layernorm.definition",  # the variance as E[x^2] - mu^2
        r"\gamma_i \frac{x_i - \mu}{\sqrt{\frac{1}{n}\sum_{k=1}^{n} x_k^2 - \mu^2 + \epsilon}}"
        r" + \beta_i",
    ),
    (
        "layernorm.definition",  # everything written out, no mu or sigma
        r"\gamma_i \cdot \frac{x_i - \frac{1}{n}\sum_{k=1}^{n} x_k}{\sqrt{\frac{1}{n}\sum_{k=1}^{n}"
        r"(x_k - \frac{1}{n}\sum_{j=1}^{n} x_j)^2 + \epsilon}} + \beta_i",
    ),
    (
        "rmsnorm.definition",
        r"\gamma_i x_i \left(\frac{1}{n}\sum_{k=1}^{n} x_k^2 + \epsilon\right)^{-1/2}",
    ),
    ("softmax.definition", r"\frac{1}{\sum_{k=1}^{n} e^{z_k - z_i}}"),
    ("softmax.jacobian", r"p_i \delta_{ij} - p_i p_j"),
    (
        "attention.scaled_dot_product_definition",  # the scale moved onto K
        r"\operatorname{softmax}\left(Q\left(\frac{K}{\sqrt{d_k}}\right)^\top\right)V",
    ),
    ("attention.scaled_dot_product_definition", r"\operatorname{softmax}(Q K^T d_k^{-1/2}) V"),
    ("attention.scaled_variance", r"d_k^{-1/2}"),
    ("residual.block", "F(x) + x"),
    (
        "postln.definition",  # nested, no y
        r"\mathrm{LN}_2(\mathrm{LN}_1(\mathrm{SA}(x) + x) + \mathrm{FFN}(\mathrm{LN}_1(x + "
        r"\mathrm{SA}(x))))",
    ),
    (
        "preln.definition",
        r"h = x + \mathrm{SA}(\mathrm{LN}_1(x));\ h + \mathrm{FFN}(\mathrm{LN}_2(h))",
    ),
]


@pytest.mark.parametrize(("claim_id", "candidate"), EQUAL_REWRITES)
def test_check_formula_accepts_the_claim_written_another_way(claim_id: str, candidate: str) -> None:
    answer = check_formula(claim_id, candidate)
    assert answer.startswith(f"Equal to {claim_id}"), answer


NAMED_VARIANTS = [
    (
        "layernorm.definition",
        r"\gamma_i \frac{x_i - \mu}{\sqrt{\frac{1}{n-1}\sum_{k=1}^{n}(x_k - \mu)^2 + \epsilon}}"
        r" + \beta_i",
        "unbiased-variance LayerNorm",
    ),
    ("layernorm.definition", r"\gamma_i \frac{x_i - \mu}{\sigma + \epsilon} + \beta_i", "outside"),
    ("softmax.definition", r"\frac{e^{z_i}}{1 + \sum_{k=1}^{n} e^{z_k}}", "extra 1"),
    ("attention.scaled_dot_product_definition", r"\operatorname{softmax}(QK^\top/d_k)V", "1/d_k"),
    ("attention.dot_product_variance", r"\sqrt{d_k}", "standard deviation"),
    (
        "postln.definition",
        r"y = x + \mathrm{SA}(\mathrm{LN}_1(x)),\ "
        r"\mathrm{out} = y + \mathrm{FFN}(\mathrm{LN}_2(y))",
        "Pre-LN layer",
    ),
    ("residual.block", "F(x)", "without the shortcut"),
]


@pytest.mark.parametrize(("claim_id", "candidate", "phrase"), NAMED_VARIANTS)
def test_check_formula_names_the_wrong_variant(claim_id: str, candidate: str, phrase: str) -> None:
    answer = check_formula(claim_id, candidate)
    assert answer.startswith("This is ") and phrase in answer, answer
    assert re.search(r"the candidate (gives|computes|is) ", answer), answer


def test_check_formula_gives_a_counterexample_for_other_formulas() -> None:
    answer = check_formula("layernorm.definition", r"\gamma_i \frac{x_i}{\sigma^2 + 1} + \beta_i")
    assert answer.startswith("Different from layernorm.definition") and "at n = " in answer
    assert re.search(r"the candidate gives y_\d = \S+ but the claim gives \S+", answer), answer
    twice = r"\operatorname{softmax}(2QK^T)V"
    answer = check_formula("attention.scaled_dot_product_definition", twice)
    assert answer.startswith("Different from") and "output[" in answer, answer


def test_check_formula_takes_python_functions() -> None:
    def ours(x: torch.Tensor, g: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
        return g * (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + eps) + b

    def annotated(x: torch.Tensor, g: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
        return g * (x - x.mean()) / torch.sqrt(x.var() + eps) + b  # unbiased

    assert check_formula("layernorm.definition", ours).startswith("Equal to")
    assert "unbiased-variance" in check_formula("layernorm.definition", annotated)
    scaled = lambda q, k, v: torch.softmax(q @ k.T / q.shape[1] ** 0.5, -1) @ v  # noqa: E731
    assert check_formula("attention.scaled_dot_product_definition", scaled).startswith("Equal")


BAD_CANDIDATES = [
    ("layernorm.definition", r"\frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}", "unparsable"),
    ("layernorm.definition", r"\gamma_i x_i + w", "unknown symbol 'w'"),
    ("layernorm.definition", lambda x, g, b, e: 1 / 0, "raised ZeroDivisionError"),
    ("layernorm.definition", lambda x, g, b, e: x[:2], "returned 2 values"),
    ("attention.scaled_dot_product_definition", r"\operatorname{softmax}(QK)V", "shapes"),
    ("attention.scaled_dot_product_definition", r"\operatorname{softmax}(QK^T)", "expected an n x"),
    ("preln.definition", r"x + \mathrm{SA}(\mathrm{LN}(x))", "unknown name 'LN'"),
    ("softmax.definition", [1, 2], "expected a scalar expression"),
    ("seed.ffn_shape", "x", "takes no formula"),
]


@pytest.mark.parametrize(("claim_id", "candidate", "message"), BAD_CANDIDATES)
def test_check_formula_answers_bad_candidates_in_one_line(
    claim_id: str, candidate: object, message: str
) -> None:
    answer = check_formula(claim_id, candidate)
    assert answer.startswith("Cannot check") and message in answer, answer
    assert "\n" not in answer and "Traceback" not in answer, answer


def test_check_formula_names_unknown_claims() -> None:
    with pytest.raises(KeyError, match="unknown claim"):
        check_formula("layernorm.nope", "x")


def test_every_reader_describes_what_it_takes() -> None:
    readers = [c for c in CLAIMS if c.reader is not None]
    assert {c.id for c in readers} >= {
        "layernorm.definition",
        "rmsnorm.definition",
        "softmax.definition",
        "attention.scaled_dot_product_definition",
        "postln.definition",
        "preln.definition",
        "residual.block",
    }
    for c in readers:
        assert c.takes and "\n" not in c.takes, c.id
        assert check_formula(c.id, c.formula if not isinstance(c.formula, tuple) else "x + F(x)")


@pytest.mark.parametrize(
    ("claim_id", "name"),
    [("layernorm.definition", "layer_norm"), ("softmax.definition", "softmax")],
)
def test_numeric_check_fails_and_names_our_code_when_it_disagrees(
    claim_id: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other half: make our verified_transformer.nn.functional answer differ."""
    from verified_transformer.nn import functional as ours

    original = getattr(ours, name)
    monkeypatch.setattr(ours, name, lambda *a, **k: original(*a, **k) * (1 + 1e-6) + 1e-6)
    claim = get(claim_id)
    with pytest.raises(Mismatch, match="verified_transformer.nn") as excinfo:
        claim.numeric_holds(claim.formula)
    assert "torch.nn" not in str(excinfo.value).replace("verified_transformer.nn", ""), excinfo


def test_a_first_derivative_of_one_quantity_prints_as_the_book_writes_it() -> None:
    """The printer rule behind the worked derivations' displays (``derivation.*``)."""
    from verified_transformer.claims.latex import latex
    from verified_transformer.derive import layernorm as ln

    assert latex(sp.Derivative(ln.mu, ln.x[ln.j])) == r"\frac{\partial \mu}{\partial x_j}"
    assert latex(sp.Derivative(ln.x[ln.i], ln.x[ln.j])) == r"\frac{\partial x_i}{\partial x_j}"
    product = latex(sp.Derivative(ln.mu * ln.sigma2, ln.x[ln.j]))  # not one quantity
    assert not product.startswith(r"\frac{\partial \mu")



def test_every_display_is_the_pinned_one() -> None:
    """Every display as printed (``python -m verified_transformer.claims --displays``) equals the
    reviewed copy in ``tests/claim_displays.txt``: a change to a formula, an operator's printing
    or a printer rule shows here as the lines it changes (regenerate the copy with that command
    after reviewing them)."""
    from verified_transformer.claims.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--displays"]) == 0
    pinned = (Path(__file__).parent / "claim_displays.txt").read_text(encoding="utf-8")
    changed = sorted(set(out.getvalue().splitlines()) ^ set(pinned.splitlines()))
    assert not changed, "displays differ from tests/claim_displays.txt:\n" + "\n".join(changed)
