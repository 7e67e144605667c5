"""The built book's math comes from the ledger (verified_transformer.sphinx.math_check): a
hand-typed display or inline relation fails a strict build, naming the page and the formula.

The builds are real Sphinx builds (MyST parser, HTML builder) of tiny projects in tmp_path.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
from sphinx.application import Sphinx
from sphinx.util.docutils import docutils_namespace

from verified_transformer.sphinx import math_check

CONF = f"""
extensions = ["myst_parser", "sphinxcontrib.bibtex", "verified_transformer.sphinx",
              "verified_transformer.sphinx.math_check"]
bibtex_bibfiles = ["{Path(__file__).resolve().parent.parent / 'references.bib'}"]
myst_enable_extensions = ["dollarmath", "amsmath"]
exclude_patterns = ["_build"]
math_check_allowlist = "allowed.yml"
"""
USED = ("layernorm.definition", "seed.qkv_circular")


def _build(tmp_path: Path, page: str, allowlist: str = "") -> str:
    """Build one page (with a ledger page defining the claims' targets); the warnings."""
    src = tmp_path / "src"
    src.mkdir(parents=True)
    (src / "conf.py").write_text(CONF, encoding="utf-8")
    (src / "allowed.yml").write_text(textwrap.dedent(allowlist), encoding="utf-8")
    ledger = f"# Ledger\n\n```{{claim-ledger}} {' '.join(USED)}\n```\n\n```{{bibliography}}\n```\n"
    (src / "ledger.md").write_text(ledger, encoding="utf-8")
    (src / "index.md").write_text("# Book\n\n```{toctree}\nledger\npage\n```\n", encoding="utf-8")
    (src / "page.md").write_text(textwrap.dedent(page), encoding="utf-8")
    warnings = io.StringIO()
    with docutils_namespace():
        app = Sphinx(str(src), str(src), str(tmp_path / "html"), str(tmp_path / "doctrees"),
                     "html", status=io.StringIO(), warning=warnings, freshenv=True)
        app.build()
    return warnings.getvalue()


CLEAN = """\
# Page

```{claim} layernorm.definition
:display: 0
```

The ledger's {claim}`layernorm.definition[1]`, a size $d_k = 64$, a symbol $\\mu$ and a
membership $x \\in \\mathbb{R}^n$.

```{article-formula}
:refuted-by: seed.qkv_circular

Q = K^T W^Q
```
"""


def test_claims_quotations_and_parameter_values_pass(tmp_path: Path) -> None:
    assert _build(tmp_path, CLEAN) == ""


def test_a_hand_typed_inline_relation_fails_naming_page_and_formula(tmp_path: Path) -> None:
    page = CLEAN + "\nTypo: $\\hat{x} = (x - \\mu)/\\sqrt{\\sigma^2 - \\epsilon}$.\n"
    warnings = _build(tmp_path, page)
    assert "page.md" in warnings
    assert "hand-typed inline relation" in warnings
    assert "\\hat{x} = (x - \\mu)/\\sqrt{\\sigma^2 - \\epsilon}" in warnings


def test_a_hand_typed_display_fails(tmp_path: Path) -> None:
    warnings = _build(tmp_path, CLEAN + "\n$$\ny = x + F(x)\n$$\n")
    assert "page.md" in warnings and "hand-typed display math" in warnings
    assert "y = x + F(x)" in warnings


ALLOW = """\
- page: page
  latex: 'y = x + F(x)'
  claim: residual.block
  reason: a test
"""


def test_the_allowlist_tolerates_exactly_its_entries(tmp_path: Path) -> None:
    assert _build(tmp_path / "a", CLEAN + "\nKept: $y = x + F(x)$.\n", ALLOW) == ""
    stale = _build(tmp_path / "b", CLEAN, ALLOW)
    assert "no longer shows" in stale and "y = x + F(x)" in stale


def test_a_notebook_latex_output_is_not_a_claim() -> None:
    """myst-nb renders a text/latex output as a math block of class text_latex."""
    from docutils import nodes
    from docutils.utils import new_document

    document = new_document("page")
    cell = nodes.container(classes=["cell_output"])
    cell += nodes.math_block("y_i = x_i", "y_i = x_i", classes=["output", "text_latex"])
    document += cell
    claim = nodes.container(classes=["vt-claim"])
    claim += nodes.math_block("y_i = x_i", "y_i = x_i")
    document += claim
    found = math_check.find_violations(document, "page")
    assert len(found) == 1 and "notebook output" in found[0].message


RELATIONS = [
    r"Q = XW^Q",
    r"\hat{x} = (x - \mu)/\sqrt{\sigma^2 + \epsilon}",
    r"\mathrm{RMS}(x) \le \max_i |g_i|",
    r"p_i \propto e^{z_i} w_i",
    r"\ln 8 \approx 2.079",
    r"Q = XW^Q \in \mathbb{R}^{n\times d_k}",
    r"n = 3,\ y = x + F(x)",
    r"\lVert x \rVert \to 0",
    # not a parameter's value: no number, a superscript, a root, a sum
    r"d_k = d_\text{model}/h",
    r"p_i = e^{z_i}/S = 1",
    r"c = 1/\sqrt N",
    r"d_k = d_\text{model}/h + 1 = 64",
    r"h \le d_\text{model}/h = 64",
]
NOT_RELATIONS = [
    r"d_k = 64",
    r"n = 3,\ d_k = 4",
    r"\epsilon = 10^{-5}",
    r"\beta = (0.9, 0.98)",
    r"j > i",
    r"x \in \mathbb{R}^n",
    r"\sum_{k=1}^{n} x_k",
    r"\left(x\right)^\top",
    r"\to",
    r"\sigma^2",
    # a parameter's value, chained through a quotient of sizes (d_\text{model} is one symbol)
    r"d_k = d_v = d_\text{model}/h = 64",
    r"d_k = d_\text{model}/h = 4",
    r"d_{ff} \ne d_\text{model}",
]


@pytest.mark.parametrize("latex", RELATIONS)
def test_relations_are_found(latex: str) -> None:
    assert math_check.states_relation(latex)


@pytest.mark.parametrize("latex", NOT_RELATIONS)
def test_values_symbols_and_memberships_are_not_relations(latex: str) -> None:
    assert not math_check.states_relation(latex)


QUOTE = "The article's {article}`K = V^T W^K` never reaches $X$.\n"


def test_an_inline_quotation_of_the_article_passes_and_the_bare_formula_fails(
        tmp_path: Path) -> None:
    assert _build(tmp_path / "quoted", CLEAN + "\n" + QUOTE) == ""
    bare = _build(tmp_path / "bare", CLEAN + "\nThe article's $K = V^T W^K$ never reaches $X$.\n")
    assert "hand-typed inline relation" in bare and "K = V^T W^K" in bare


def test_the_article_role_quotes_only_the_article(tmp_path: Path) -> None:
    warnings = _build(tmp_path, CLEAN + "\nNot the article's: {article}`K = XW^K`.\n")
    assert "is not one of the article's formulas" in warnings and "K = XW^K" in warnings


def test_the_census_tells_a_quotation_from_a_claim() -> None:
    from docutils import nodes
    from docutils.utils import new_document

    document = new_document("page")
    quoted = nodes.inline(classes=[math_check.ARTICLE_INLINE])
    quoted += nodes.math("Q = K^T W^Q", "Q = K^T W^Q")
    document += quoted
    document += nodes.math("Q = K^T W^Q", "Q = K^T W^Q")
    kinds = [math_check.classify_inline(m) for m in document.findall(nodes.math)]
    assert kinds == ["article", "relation"]
