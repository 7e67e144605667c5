"""Sphinx extension: every formula the built book shows comes from the claims ledger.

Add ``verified_transformer.sphinx.math_check`` to ``extensions`` after
``verified_transformer.sphinx``. On the resolved doctree of every page, in every edition (so
after translation, and with the notebooks' outputs, whose ``text/latex`` becomes math blocks), it
warns (an error in the strict build), naming the page and the formula, about

- a display math block that is neither inside a ``{claim}`` block (class ``vt-claim``) nor a
  marked quotation of the article (``{article-formula}``, class ``vt-article-formula``);
- an inline formula that states a relation between expressions (:func:`states_relation`) and is
  neither the ``{claim}`` role's output (a link of class ``vt-claim-inline``) nor an inline
  quotation of the article (the ``{article}`` role registered here, class ``vt-article-inline``),
  unless the allowlist names it.

``{article}`` role
    ``{article}`Q = K^T W^Q``` shows one of the source article's formulas inline, marked as a
    quotation (to be refuted in the same sentence or the section it belongs to). Like the
    ``{article-formula}`` directive, it accepts only the article's own formulas
    (:data:`verified_transformer.sphinx.display_math.ARTICLE_FORMULAS`, compared with runs of
    spaces made single); anything else is an error naming the formula.

The allowlist (``math_check_allowlist``, a YAML file relative to the source folder, default
``book/hand_typed_relations.yml``) lists the inline relations the ledger does not state yet, each
with its page, its LaTeX, the claim it belongs to and why it stays; an entry that no page of a full
build uses any more is itself a warning, so the list cannot outlive its formulas.

:func:`states_relation` and :func:`classify_display` / :func:`classify_inline` are shared with
``scripts/math_census.py``, which counts the same things in the built HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docutils import nodes

__all__ = [
    "Allowed",
    "find_violations",
    "load_allowlist",
    "setup",
    "states_relation",
]

# Marker classes set by the book's own directives and role (verified_transformer.sphinx).
CLAIM_BLOCK = "vt-claim"
ARTICLE_BLOCK = "vt-article-formula"
CLAIM_INLINE = "vt-claim-inline"
ARTICLE_INLINE = "vt-article-inline"
DEFAULT_ALLOWLIST = "book/hand_typed_relations.yml"

# Relation operators: a command not followed by a letter (so \le is not \left, \to not \top), or
# one of the characters (ASCII and Unicode). Set membership (\in, \notin, \subset) is not one.
_RELATION = re.compile(
    r"\\(?:leqslant|geqslant|leq|geq|le|ge|lt|gt|neq|ne|approx|propto|simeq|sim|equiv|cong"
    r"|ll|gg|to|rightarrow|longrightarrow|Rightarrow|Longrightarrow|implies|iff|gets|leftarrow"
    r"|mapsto|coloneqq)(?![A-Za-z])"
    r"|:=|[=<>≤≥≈∝→≠≡∼⇒]"
)
_MEMBERSHIP = re.compile(r"\\(?:in|notin|subset|subseteq|ni)(?![A-Za-z])|∈")
# Where one statement ends and the next begins (at the top level): commas, semicolons, wide
# spaces, words in \text{...}.
# (\text right after _ or ^ is part of a symbol's name, d_\text{model}, not words.)
_CLAUSE_BREAK = re.compile(
    r",|;|\\q?quad(?![A-Za-z])|(?<![_^])\\text\{[^{}]*\}|(?<![_^])\\(?:text|mbox)(?![A-Za-z])"
)
_SPACING = re.compile(r"\\[,;:! ]|\\(?:displaystyle|left|right|big|Big|bigg|Bigg)(?![A-Za-z])|\s+")
_WRAPPERS = re.compile(
    r"\\(?:hat|bar|tilde|vec|mathbf|boldsymbol|mathrm|mathit|mathcal|mathbb|operatorname|text)"
    r"(?![A-Za-z])"
)
_NUMBER = re.compile(
    r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?:\^-?\d+)?(?:/\d+(?:\.\d*)?)?$|^[-+]?\\infty$"
)
# A size symbol in a parameter's value: a letter or command with a subscript, no superscript
# (d_k, d_{model}, h, E), or a number.
_SIZE = re.compile(r"^(?:[A-Za-z]|\\[A-Za-z]+)(?:_(?:\{[^{}]*\}|[A-Za-z0-9]))?$")
_ATOM = re.compile(
    r"^(?:[A-Za-z]|\\[A-Za-z]+|\{[^{}]*\})'*"
    r"(?:[_^](?:\{[^{}]*\}|[A-Za-z0-9]|\\[A-Za-z]+))*'*$"
)


def _depths(latex: str, brackets: str) -> list[int]:
    """The nesting depth at each character of ``latex``, counting the opening/closing pairs in
    ``brackets`` (e.g. ``"{}"`` or ``"{}()[]"``); escaped braces do not count, and an unmatched
    closing bracket does not go below 0."""
    opening, closing = brackets[0::2], brackets[1::2]
    out, depth, escaped = [], 0, False
    for ch in latex:
        if not escaped and ch in closing:
            depth = max(depth - 1, 0)
        out.append(depth)
        if not escaped and ch in opening:
            depth += 1
        escaped = ch == "\\" and not escaped
    return out


def _split_top(latex: str, pattern: re.Pattern[str], brackets: str = "{}") -> list[str]:
    """``latex`` split at the matches of ``pattern`` that start at depth 0 of ``brackets``."""
    depths = _depths(latex, brackets)
    parts, start = [], 0
    for match in pattern.finditer(latex):
        if match.start() < start or depths[match.start()] != 0:
            continue
        parts.append(latex[start:match.start()])
        start = match.end()
    parts.append(latex[start:])
    return parts


def _kind(side: str) -> str:
    """``"number"``, ``"symbol"`` (one letter or command with sub/superscripts and accents) or
    ``"expression"``."""
    text = _WRAPPERS.sub("", _SPACING.sub("", side))
    if not text:
        return "empty"  # a continued relation ("= ...") or a lone arrow
    if all(_NUMBER.match(n) for n in text.replace("{", "").replace("}", "").strip("()").split(",")):
        return "number"  # 64, 1/1000, 10^{-5}, \\infty, a tuple (0.9, 0.98)
    if _ATOM.match(text):
        return "symbol"
    return "expression"


def _parameter_value(sides: list[str], operators: list[str]) -> bool:
    """Whether a statement is a parameter's value, possibly chained: only ``=``, at least one
    side a number, every other side a size symbol (no superscript) or a quotient of two sizes
    (``d_k = d_v = d_\\text{model}/h = 64``, ``d_k = d_\\text{model}/h = 4``)."""
    if any(op != "=" for op in operators):
        return False
    texts = [_WRAPPERS.sub("", _SPACING.sub("", side)) for side in sides]
    if not any(_kind(side) == "number" for side in sides):
        return False

    def size(text: str) -> bool:
        return bool(_SIZE.match(text)) or _kind(text) == "number"

    return all(size(t) or (t.count("/") == 1 and all(size(q) for q in t.split("/")))
               for t in texts)


def states_relation(latex: str) -> bool:
    """Whether inline ``latex`` states a relation between expressions.

    The formula is cut into statements (at top-level commas, ``\\quad``, words in ``\\text``); a
    statement's part after a set membership (``\\in``) is dropped; the rest is split at relation
    operators (``=``, ``<``, ``\\le``, ``\\approx``, ``\\propto``, ``\\to``, ...) at brace depth 0.
    A statement is a relation when it has two sides or more and one of them is an expression. A
    symbol set to a number (``d_k = 64``, ``n = 3``, ``\\epsilon \\to 0``, ``a > 0``,
    ``\\beta = (0.9, 0.98)``), a comparison of two symbols (``j > i``, ``d_v \\ne d_k``, sizes
    and indices), a lone symbol or arrow and a set membership are not relations.

    Nor is a parameter's value given in a chain (:func:`_parameter_value`):
    ``d_k = d_v = d_\\text{model}/h = 64`` says which size the book uses and how the paper
    chose it, a division of two other sizes stated beside it; it is configuration, the value
    the code is run with, not a mathematical statement a claim could prove. The pattern is
    narrow on purpose: only ``=``, a number in the chain, and sides that are size symbols
    (subscripts, no superscripts) or one quotient of two; ``p_i = e^{z_i}/S``,
    ``c = 1/\\sqrt N`` and ``d_k = d_\\text{model}/h`` without a value stay relations.
    """
    for clause in _split_top(latex, _CLAUSE_BREAK, "{}()[]"):
        clause = _split_top(clause, _MEMBERSHIP)[0]
        sides = _split_top(clause, _RELATION)
        if len(sides) < 2:
            continue
        kinds = [_kind(s) for s in sides]
        operators = [m.group() for m in _RELATION.finditer(clause)
                     if _depths(clause, "{}")[m.start()] == 0]
        if "expression" in kinds and not _parameter_value(sides, operators):
            return True
    return False


# Classification of a node by its ancestors' marker classes ---------------------------------------


def _has_ancestor_class(node: nodes.Node, wanted: str) -> bool:
    current: nodes.Node | None = node
    while current is not None:
        if isinstance(current, nodes.Element) and wanted in current.get("classes", []):
            return True
        current = current.parent
    return False


def classify_display(node: nodes.math_block) -> str:
    """``"claim"``, ``"article"`` or ``"hand-typed"`` (for a notebook output: ``"output"``)."""
    if _has_ancestor_class(node, CLAIM_BLOCK):
        return "claim"
    if _has_ancestor_class(node, ARTICLE_BLOCK):
        return "article"
    return "output" if "text_latex" in node.get("classes", []) else "hand-typed"


def classify_inline(node: nodes.math) -> str:
    """``"claim"`` (the ``{claim}`` role's output), ``"article"`` (the ``{article}`` role's
    quotation), ``"relation"`` (a hand-typed relation) or ``"other"`` (hand-typed, no
    relation)."""
    if _has_ancestor_class(node, CLAIM_INLINE):
        return "claim"
    if _has_ancestor_class(node, ARTICLE_INLINE):
        return "article"
    return "relation" if states_relation(node.astext()) else "other"


# The allowlist --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    """An inline relation that stays hand-typed until the ledger states it."""

    page: str  # docname, e.g. notebooks/04_exercises
    latex: str
    claim: str  # the claim it belongs to (or "new")
    reason: str


def _normal(latex: str) -> str:
    return " ".join(latex.split())


def load_allowlist(path: Path) -> list[Allowed]:
    """The entries of the allowlist file (a YAML list of mappings with ``page``, ``latex``,
    ``claim``, ``reason``); none when the file does not exist."""
    import yaml

    if not path.is_file():
        return []
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    allowed = []
    for i, entry in enumerate(entries):
        missing = {"page", "latex", "claim", "reason"} - set(entry)
        if missing:
            raise ValueError(f"{path}: entry {i} lacks {', '.join(sorted(missing))}")
        allowed.append(Allowed(entry["page"], _normal(entry["latex"]), entry["claim"],
                               entry["reason"]))
    return allowed


@dataclass(frozen=True)
class Violation:
    node: nodes.Node
    message: str


def find_violations(
    doctree: nodes.Node,
    docname: str,
    allowed: list[Allowed] | tuple[Allowed, ...] = (),
    used: set[Allowed] | None = None,
) -> list[Violation]:
    """Every hand-typed display and every hand-typed inline relation of ``doctree`` that the
    allowlist does not name; the allowlist entries that matched are added to ``used``."""
    found: list[Violation] = []
    permitted = {(a.page, a.latex): a for a in allowed}
    blocks = list(doctree.findall(nodes.math_block))
    for block in blocks:
        kind = classify_display(block)
        if kind in ("claim", "article"):
            continue
        where = "a notebook output" if kind == "output" else "hand-typed display math"
        hint = (
            "show the claim's display with {claim} instead of display(Math(...))"
            if kind == "output"
            else "use {claim} (or {article-formula} to quote the article)"
        )
        found.append(Violation(block, f"{where} not from the ledger ({hint}): "
                                      f"{_short(block.astext())}"))
    for math in doctree.findall(nodes.math):
        if classify_inline(math) != "relation":
            continue
        entry = permitted.get((docname, _normal(math.astext())))
        if entry is not None:
            if used is not None:
                used.add(entry)
            continue
        found.append(Violation(math, "hand-typed inline relation (use the {claim} role, "
                                     "{claim}`id[k]`, or rephrase; or list it in the allowlist "
                                     f"{DEFAULT_ALLOWLIST}): ${_short(math.astext())}$"))
    return found


def _short(latex: str) -> str:
    text = " ".join(latex.split())
    return text if len(text) <= 120 else text[:117] + "..."


# Sphinx ---------------------------------------------------------------------------------------


def _article_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
                  options: dict | None = None, content: list | None = None
                  ) -> tuple[list[nodes.Node], list[nodes.system_message]]:
    """``{article}`latex```: one of the article's formulas, inline, marked as a quotation."""
    from verified_transformer.sphinx import display_math

    latex = " ".join(text.split())
    if not latex or display_math.not_in_article(latex):
        msg = inliner.reporter.error(
            f"article role: {latex!r} is not one of the article's formulas "
            "(verified_transformer.sphinx.display_math.ARTICLE_FORMULAS); the book's own "
            "come from the ledger ({claim} role)", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    quoted = nodes.inline(classes=[ARTICLE_INLINE])
    quoted += nodes.math(latex, latex)
    return [quoted], []



def _state(app: Any) -> dict[str, Any]:
    """This build's allowlist, the entries used and the pages checked (kept on the application,
    not on the pickled environment)."""
    if not hasattr(app, "_vt_math_check"):
        path = Path(app.srcdir) / app.config.math_check_allowlist
        app._vt_math_check = {"allowed": load_allowlist(path), "used": set(), "checked": set()}
    return app._vt_math_check


def _check(app: Any, doctree: nodes.document, docname: str) -> None:
    from sphinx.util import logging

    if app.builder.format != "html":
        return  # the message catalogs (gettext) show no formula
    logger = logging.getLogger(__name__)
    state = _state(app)
    state["checked"].add(docname)
    found = find_violations(doctree, docname, state["allowed"], state["used"])
    for violation in found:
        logger.warning(violation.message, location=violation.node, type="vt", subtype="math")


def _report_unused(app: Any, exception: Exception | None) -> None:
    """After a build that wrote every page with an allowlist entry: an entry no page used is
    stale (its formula changed or went)."""
    from sphinx.util import logging

    if exception is not None or app.builder.format != "html":
        return
    state = _state(app)
    for entry in state["allowed"]:
        if entry.page in state["checked"] and entry not in state["used"]:
            logging.getLogger(__name__).warning(
                "%s lists an inline relation that page %s no longer shows (remove the entry): $%s$",
                app.config.math_check_allowlist, entry.page, entry.latex,
                type="vt", subtype="math",
            )


def setup(app: Any) -> dict[str, Any]:
    app.add_role("article", _article_role)
    app.add_config_value("math_check_allowlist", DEFAULT_ALLOWLIST, "env")
    app.connect("doctree-resolved", _check)
    app.connect("build-finished", _report_unused)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": False}
