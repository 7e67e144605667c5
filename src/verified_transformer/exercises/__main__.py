"""``python -m verified_transformer.exercises``: list the exercises; ``--markdown PATH`` writes
the book's exercise index page (book/appendix_exercises.md) from the registry."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from verified_transformer.exercises import CHAPTERS, EXERCISES, Exercise

KIND_TEXT = {
    "derive": "a formula, decided exactly by the claims ledger's `check_formula`",
    "implement": "a function (for the capstone, a class), run against our code and PyTorch on "
                 "several shapes and dtypes",
    "predict": "a prediction, compared with what running the experiment shows",
}


def _checked_by(e: Exercise) -> str:
    if e.claim is not None:
        from verified_transformer.claims import label

        return (f'`check("{e.id}", ...)`, which asks `check_formula` to compare it with '
                f"{{ref}}`the ledger's formula <{label(e.claim)}>`")
    return f'`check("{e.id}", ...)`'


def markdown_page(exercises: Sequence[Exercise] = EXERCISES) -> str:
    """The exercise index page: one table row per exercise, in book order, with links."""
    lines = [
        "(appendix-exercises)=",
        "# Exercises",
        "",
        "Chapters 2 to 6 each end with a page of exercises. Each exercise states what a correct "
        "answer must satisfy, has a worked solution (collapsed until you open it) and a checker "
        "you can call on your own answer in the notebook:",
        "",
        "```python",
        "from verified_transformer.exercises import check",
        "",
        'print(check("layer_norm_2d", my_layer_norm_2d))',
        "```",
        "",
        "The checker answers in one or two sentences: correct; or which known mistake your "
        "answer makes (it runs an implementation of each known mistake on the same inputs and "
        "compares); or the first input on which your answer differs, with both outputs. A wrong "
        "prediction is told the mistake in the reasoning behind it, never the right answer, so "
        "that you can try again. The kinds of exercise:",
        "",
    ]
    for kind, text in KIND_TEXT.items():
        lines.append(f"- **{kind}**: {text}.")
    lines += [
        "",
        "This page is generated from the registry `verified_transformer.exercises.EXERCISES` by "
        "`python -m verified_transformer.exercises --markdown book/appendix_exercises.md`; the "
        "test suite fails when it is out of date.",
        "",
    ]
    for chapter, name in CHAPTERS.items():
        mine = [e for e in exercises if e.chapter == chapter]
        if not mine:
            continue
        numbers = {k: sum(e.kind == k for e in mine) for k in KIND_TEXT}
        counts = ", ".join(f"{n} {k}" for k, n in numbers.items() if n)
        lines += [
            f"## Chapter {chapter}: {name}",
            "",
            f"{len(mine)} exercises ({counts}), on {{doc}}`the exercises page of chapter "
            f"{chapter} </{mine[0].page}>`.",
            "",
            "| Exercise | Kind | Checked by |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {{ref}}`{e.title} <{e.label}>` | {e.kind} | {_checked_by(e)} |" for e in mine]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per exercise, or write the index page with ``--markdown PATH``."""
    parser = argparse.ArgumentParser(
        prog="python -m verified_transformer.exercises", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the index page")
    args = parser.parse_args(argv)
    if args.markdown:
        args.markdown.write_text(markdown_page(EXERCISES), encoding="utf-8")
        return 0
    for e in EXERCISES:
        sys.stdout.write(f"{e.chapter}  {e.kind:<9}  {e.id:<22}  {e.title}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
