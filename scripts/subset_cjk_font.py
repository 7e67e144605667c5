"""Write the book's CJK figure font: a subset of Noto Sans CJK SC with the characters it needs.

Usage: python scripts/subset_cjk_font.py [SOURCE.ttc]

SOURCE is the full Noto Sans CJK collection (Debian: ``apt-get install fonts-noto-cjk``, then
``/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc``; or any ``NotoSansCJK-Regular.ttc`` of
https://github.com/notofonts/noto-cjk). Only an author runs this, after adding Chinese text to a
figure that the subset lacks (``tests/test_fonts.py`` names such characters); readers and CI use
the committed subset. Noto Sans CJK is under the SIL Open Font License 1.1, which allows subsetting
and redistribution with the licence (``src/verified_transformer/fonts/OFL.txt``).

The subset holds every non-ASCII character of (1) the sources of the date-translation task
(chapter 6b draws them as tick labels); (2) the notebooks' code cells (labels typed in a figure
cell); and (3) the Chinese edition's message catalogs when the subset was made, the book's own
Chinese vocabulary, so that a Chinese figure label in the book's words rarely needs a new subset;
less what DejaVu Sans, matplotlib's default font, already draws. ``tests/test_fonts.py`` requires
(1) and (2).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SC_INDEX = 2  # JP, KR, SC, TC, HK, ... in the collection


def dejavu_characters() -> set[str]:
    """The characters that matplotlib's bundled DejaVu Sans draws."""
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    path = font_manager.findfont("DejaVu Sans", fallback_to_default=False)
    return {chr(code) for code in TTFont(path).getBestCmap()}


def _beyond_dejavu(texts: list[str]) -> set[str]:
    wanted = {ch for text in texts for ch in text if ord(ch) > 0x7F and ch.isprintable()}
    return wanted - dejavu_characters()


def figure_characters() -> set[str]:
    """What the figures draw today that DejaVu Sans lacks: the date task's sources (chapter 6b's
    tick labels) and every character typed in a notebook's code cell."""
    import nbformat

    from verified_transformer.experiments.translation import source_alphabet

    texts = ["".join(source_alphabet())]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        texts.extend(c.source for c in nb.cells if c.cell_type == "code")
    return _beyond_dejavu(texts)


def needed_characters() -> set[str]:
    """What the subset holds: :func:`figure_characters` and the Chinese catalogs' characters."""
    catalogs = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "locales").rglob("*.po"))]
    # printable ASCII too: a Chinese figure draws with this font first, and a label that mixes
    # Chinese and $math$ takes all its non-math text from one font (matplotlib's mathtext)
    # (with the signs matplotlib's tick labels draw, such as the minus sign U+2212)
    ascii_text = {chr(code) for code in range(0x20, 0x7F)} | set("−–—‘’“”…×·±°≈≤≥")
    return figure_characters() | _beyond_dejavu(catalogs) | ascii_text


def main(argv: list[str]) -> int:
    from fontTools import subset

    from verified_transformer.fonts import CJK_FONT

    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    if not source.is_file():
        print(f"{source} not found: pass the path of NotoSansCJK-Regular.ttc", file=sys.stderr)
        return 1
    text = "".join(sorted(needed_characters()))
    subset.main([str(source), f"--font-number={SC_INDEX}", f"--text={text}",
                 "--layout-features=*", "--name-IDs=*", f"--output-file={CJK_FONT}"])
    print(f"{CJK_FONT.relative_to(ROOT)}: {len(text)} characters, "
          f"{CJK_FONT.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
