"""The source article's display formulas, the only display math the book may type by hand.

A quotation (``{article-formula}``) may hold nothing but the article's own equations
(:data:`ARTICLE_FORMULAS`); :func:`not_in_article` names the ones it does not contain. That every
display of the built book is a claim's or such a quotation is checked on the resolved doctree of
both editions by :mod:`verified_transformer.sphinx.math_check`.
"""

from __future__ import annotations

import re

# The display equations of the source article (section 4), exactly as it types them, one per line.
ARTICLE_FORMULAS: tuple[str, ...] = (
    r"Q = K^T W^Q",
    r"K = V^T W^K",
    r"A = \frac{exp(q_k^T r)}{\sqrt{d_k}}",
    r"Attention(Q, K, V) = softmax(A) \cdot V",
    r"H^l = F(H^{l-1}) + H^{l-1}",
    r"H^l = F(H^{l-1}) \oplus H^{l-1}",
)

_WRAPPER = re.compile(r"\\(?:begin|end)\{(?:gathered|aligned|split)\}")


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
