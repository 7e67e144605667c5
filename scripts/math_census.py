"""Count the formulas of the built book, per page and in total, for each edition.

    python scripts/math_census.py              # _build/html (en) and _build/html/zh_CN
    python scripts/math_census.py --list       # also print every hand-typed inline relation

Reads the HTML that ``scripts/build_edition.py en zh_CN`` wrote. Display math: from a ``{claim}``
block, from a quotation of the article (``{article-formula}``), a notebook output (``text/latex``)
or elsewhere (hand-typed). Inline math: from the ledger (the ``{claim}`` role), quoted from the
article (the ``{article}`` role, "quoted"), and hand-typed,
of which those that state a relation between expressions (the same test as the build's check,
``verified_transformer.sphinx.math_check.states_relation``), and of those the ones the allowlist
(``book/hand_typed_relations.yml``) tolerates.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from verified_transformer.sphinx import math_check

ROOT = Path(__file__).resolve().parent.parent
EDITIONS = {"en": ROOT / "_build" / "html", "zh_CN": ROOT / "_build" / "html" / "zh_CN"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
COLUMNS = ("display", "claim", "article", "output", "hand", "inline", "ledger",
           "quoted", "relations", "allowed")


class _Math(HTMLParser):
    """The math of one page: (display or inline, LaTeX, the classes of every enclosing element)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, list[str]]] = []
        self.found: list[tuple[str, str, set[str]]] = []
        self._text: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        self.stack.append((tag, classes))
        if self._text is None and "math" in classes:
            self._text, self._depth = [], len(self.stack)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or not self.stack:
            return
        if self._text is not None and len(self.stack) == self._depth:
            text = "".join(self._text).strip()
            enclosing = {c for _, cs in self.stack for c in cs}
            display = text.startswith("\\[") or self.stack[-1][0] == "div"
            latex = text[2:-2] if text[:2] in ("\\(", "\\[") else text
            self.found.append(("display" if display else "inline", latex, enclosing))
            self._text = None
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def census(page: Path, docname: str, allowed: set[tuple[str, str]]) -> tuple[Counter, list[str]]:
    """The counts of one page (keys: COLUMNS) and its hand-typed inline relations not allowed."""
    parser = _Math()
    parser.feed(page.read_text(encoding="utf-8"))
    counts: Counter = Counter()
    stray: list[str] = []
    for kind, latex, enclosing in parser.found:
        if kind == "display":
            counts["display"] += 1
            if math_check.CLAIM_BLOCK in enclosing:
                counts["claim"] += 1
            elif math_check.ARTICLE_BLOCK in enclosing:
                counts["article"] += 1
            elif "text_latex" in enclosing:
                counts["output"] += 1
            else:
                counts["hand"] += 1
            continue
        counts["inline"] += 1
        if math_check.CLAIM_INLINE in enclosing:
            counts["ledger"] += 1
        elif math_check.ARTICLE_INLINE in enclosing:
            counts["quoted"] += 1
        elif math_check.states_relation(latex):
            counts["relations"] += 1
            if (docname, " ".join(latex.split())) in allowed:
                counts["allowed"] += 1
            else:
                stray.append(latex)
    return counts, stray


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="print every hand-typed relation")
    args = parser.parse_args()
    entries = math_check.load_allowlist(ROOT / math_check.DEFAULT_ALLOWLIST)
    allowed = {(e.page, e.latex) for e in entries}
    print(f"allowlist {math_check.DEFAULT_ALLOWLIST}: {len(entries)} entries")
    for edition, html in EDITIONS.items():
        if not html.is_dir():
            print(f"[{edition}] not built ({html})", file=sys.stderr)
            continue
        print(f"\n[{edition}] display: all = claim + article + notebook output "
              "ledger page + hand-typed; inline: all, from the ledger ({claim} role), quoted from "
              "the article ({article} role), hand-typed relations (of which allowlisted)")
        header = f"{'page':34}" + "".join(f"{c:>10}" for c in COLUMNS)
        print(header)
        total: Counter = Counter()
        listing: list[str] = []
        for folder in ("book", "notebooks"):
            for page in sorted((html / folder).glob("*.html")):
                docname = f"{folder}/{page.stem}"
                counts, stray = census(page, docname, allowed)
                total += counts
                print(f"{docname:34}" + "".join(f"{counts[c]:>10}" for c in COLUMNS))
                listing += [f"  {docname}: ${latex}$" for latex in stray]
        print(f"{'total':34}" + "".join(f"{total[c]:>10}" for c in COLUMNS))
        if args.list and listing:
            print(f"[{edition}] hand-typed inline relations not in the allowlist:")
            print("\n".join(listing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
