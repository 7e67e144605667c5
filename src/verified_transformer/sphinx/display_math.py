"""Find display math typed by hand into MyST text, and the article's formulas that may be quoted.

The book's rule: every displayed equation comes from the claims ledger (the ``{claim}``
directive); the only hand-typed display math is a quotation of the source article inside an
``{article-formula}`` block, and such a block may hold nothing but the article's own equations
(:data:`ARTICLE_FORMULAS`). :func:`stray_display_math` reports everything else; the test suite runs
it over ``book/*.md`` and the notebooks' markdown cells.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# The display equations of the source article (section 4), exactly as it types them, one per line.
ARTICLE_FORMULAS: tuple[str, ...] = (
    r"Q = K^T W^Q",
    r"K = V^T W^K",
    r"A = \frac{exp(q_k^T r)}{\sqrt{d_k}}",
    r"Attention(Q, K, V) = softmax(A) \cdot V",
    r"H^l = F(H^{l-1}) + H^{l-1}",
    r"H^l = F(H^{l-1}) \oplus H^{l-1}",
)

_QUOTATION = "article-formula"
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})\s*(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w:-]+)\}")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
# Display math in MyST: $$ (dollarmath), amsmath environments, the math directive, rST's math.
_DISPLAY = re.compile(
    r"\$\$"
    r"|\\begin\{(?:equation|align|alignat|flalign|gather|multline|eqnarray|displaymath|math)\*?\}"
    r"|\.\.\s+math::"
)
_WRAPPER = re.compile(r"\\(?:begin|end)\{(?:gathered|aligned|split)\}")


@dataclass(frozen=True)
class Finding:
    """One piece of hand-typed display math: the line it starts on (from 1) and the text there."""

    line: int
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}"


def article_equations(latex: str) -> list[str]:
    """The equations of a quotation, one per line: split at ``\\\\``, newlines and ``\\qquad``,
    without ``gathered``/``aligned`` wrappers and with runs of spaces made single."""
    body = _WRAPPER.sub("\n", latex)
    parts = re.split(r"\\\\|\n|\\qquad", body)
    return [" ".join(p.split()) for p in parts if p.strip()]


def not_in_article(latex: str) -> list[str]:
    """The equations of a quotation that the article does not contain (empty when it is a quote)."""
    known = {" ".join(f.split()) for f in ARTICLE_FORMULAS}
    return [eq for eq in article_equations(latex) if eq not in known]


def stray_display_math(text: str) -> list[Finding]:
    """Display math in MyST ``text`` outside ``{article-formula}`` blocks.

    Code fences (```` ```python ````, ```` ``` ````) and inline code are not math and are skipped;
    a ``{math}`` directive fence counts as display math; other directive fences (admonitions, ...)
    hold MyST text and are searched, at any depth.
    """
    findings: list[Finding] = []
    stack: list[tuple[str, int, str]] = []  # (fence character, length, "skip" | "scan")
    scanned: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if match:
            fence, info = match["fence"], match["info"].strip()
            if stack and fence[0] == stack[-1][0] and len(fence) >= stack[-1][1] and not info:
                stack.pop()
                continue
            if not stack or stack[-1][2] == "scan":
                directive = _DIRECTIVE.match(info)
                name = directive["name"] if directive else None
                if name == "math":
                    findings.append(Finding(number, line.strip()))
                    mode = "skip"
                elif name == _QUOTATION or name is None and fence[0] != ":":
                    mode = "skip"  # a quotation, or a code block
                else:
                    mode = "scan"
                stack.append((fence[0], len(fence), mode))
                continue
        if not stack or stack[-1][2] == "scan":
            scanned.append((number, line))
    # Inline code may span lines; blank it out (keeping line breaks) before searching.
    joined = "\n".join(line for _, line in scanned)
    joined = _INLINE_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), joined)
    blanked = joined.split("\n") if scanned else []
    in_dollars = False
    for (number, _), line in zip(scanned, blanked, strict=True):
        for hit in _DISPLAY.finditer(line):
            if hit.group(0) == "$$":
                in_dollars = not in_dollars
                if not in_dollars:
                    continue  # the closing $$ of a display already reported
            findings.append(Finding(number, line.strip()))
            break
    return sorted(findings, key=lambda f: f.line)


def article_quotations(text: str) -> list[tuple[int, str]]:
    """The bodies of the ``{article-formula}`` blocks in MyST ``text``: (line of the fence, LaTeX),
    without the block's ``:option:`` lines."""
    out: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match and match["info"].strip().startswith("{" + _QUOTATION + "}"):
            fence, start, body = match["fence"], i + 1, []
            i += 1
            while i < len(lines):
                close = _FENCE.match(lines[i])
                if close and close["fence"][0] == fence[0] and len(close["fence"]) >= len(fence):
                    if not close["info"].strip():
                        break
                body.append(lines[i])
                i += 1
            out.append((start, "\n".join(b for b in body if not b.startswith(":")).strip()))
        i += 1
    return out


def markdown_sources(root: Path) -> dict[str, str]:
    """Every MyST text the rule covers: ``book/**/*.md`` (not the generated ``claims_ledger.md``)
    and each markdown cell of ``notebooks/*.ipynb``, keyed ``book/x.md`` or ``notebooks/x.ipynb
    cell N``."""
    sources: dict[str, str] = {}
    for page in sorted((root / "book").rglob("*.md")):
        if page.name != "claims_ledger.md":
            sources[page.relative_to(root).as_posix()] = page.read_text(encoding="utf-8")
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                source = cell["source"]
                text = "".join(source) if isinstance(source, list) else source
                sources[f"notebooks/{notebook.name} cell {index}"] = text
    return sources
