"""Words of prose per chapter, before (a git revision, default HEAD) and after (the work tree).

Prose is the whole text of a page under ``book/`` (MyST Markdown) and the markdown cells of a
notebook under ``notebooks/``, without fenced code blocks (```` ```python ````, a bare
```` ``` ````; MyST directives such as ```` ```{figure} ```` are kept, their captions are prose)
and without display math (``$$ ... $$``). A word is a run of characters between white space.
``book/claims_ledger.md`` is left out: the ledger's page, generated (committed in earlier
revisions, built by the ``{claim-ledger}`` directive now). The last line, ``core``, adds up the
chapters 1-8 and 6b without their exercise pages, the appendices and the introduction.

Usage: .venv/bin/python scripts/word_counts.py [--rev REV]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {"book/claims_ledger.md"}
CORE = re.compile(r"^(book|notebooks)/0\d[a-z]?_(?!exercises)")  # chapter 1-8 and 6b pages
FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")


def prose_words(markdown: str) -> int:
    """Number of words in ``markdown`` outside code fences and ``$$`` display math."""
    words = 0
    fence: str | None = None  # the opening marker of the code fence we are in
    directives: list[str] = []  # the opening markers of the MyST directives we are in
    in_math = False
    for line in markdown.splitlines():
        match = FENCE.match(line)
        if fence is not None:
            if match and match.group(1).startswith(fence) and not match.group(2).strip():
                fence = None
            continue
        if match and not in_math:
            marker, info = match.group(1), match.group(2).strip()
            if info.startswith("{"):  # a directive: its body is prose, its closing fence is not
                directives.append(marker)
            elif not info and directives and marker.startswith(directives[-1]):
                directives.pop()
            else:
                fence = marker
            continue
        if in_math:
            if "$$" in line:
                in_math = False
                words += len(line.split("$$", 1)[1].split())
            continue
        if line.count("$$") % 2 == 1:  # a display opens on this line and does not close
            in_math = True
            words += len(line.split("$$", 1)[0].split())
            continue
        words += len(re.sub(r"\$\$.*?\$\$", " ", line).split())
    return words


def text_words(path: str, text: str) -> int:
    """Prose words of a page (``.md``) or of a notebook's markdown cells (``.ipynb``)."""
    if path.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        return sum(
            prose_words("".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for c in cells
            if c["cell_type"] == "markdown"
        )
    return prose_words(text)


def pages(rev: str) -> list[str]:
    """Chapter files in the working tree or at ``rev``, in book order of their names."""
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "book/", "notebooks/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    here = [str(p.relative_to(ROOT)) for p in ROOT.glob("book/*.md")]
    here += [str(p.relative_to(ROOT)) for p in ROOT.glob("notebooks/*.ipynb")]
    names = {n for n in [*listed, *here] if n.endswith((".md", ".ipynb"))} - GENERATED
    return sorted(names, key=lambda n: (Path(n).name, n))


def at_rev(rev: str, path: str) -> str | None:
    """The file's text at ``rev``, or None if it did not exist there."""
    result = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True
    )
    return result.stdout if result.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="git revision for 'before' (default HEAD)")
    args = parser.parse_args()
    total_before = total_after = core_before = core_after = 0
    print(f"{'page':40s} {'before':>7s} {'after':>7s} {'change':>7s}")
    for path in pages(args.rev):
        old = at_rev(args.rev, path)
        new_file = ROOT / path
        before = text_words(path, old) if old is not None else 0
        after = text_words(path, new_file.read_text()) if new_file.exists() else 0
        total_before, total_after = total_before + before, total_after + after
        if CORE.match(path):
            core_before, core_after = core_before + before, core_after + after
        change = f"{(after - before) / before:+.0%}" if before else "new"
        print(f"{path:40s} {before:7d} {after:7d} {change:>7s}")
    change = f"{(total_after - total_before) / total_before:+.0%}"
    print(f"{'total':40s} {total_before:7d} {total_after:7d} {change:>7s}")
    change = f"{(core_after - core_before) / core_before:+.0%}"
    print(f"{'core (chapters 1-8, 6b)':40s} {core_before:7d} {core_after:7d} {change:>7s}")


if __name__ == "__main__":
    main()
