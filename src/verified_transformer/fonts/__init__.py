"""The fonts that the book's figures draw with, shipped with the package.

Matplotlib's bundled DejaVu Sans draws Latin, Greek and Cyrillic but no Chinese. For Chinese text
the package ships :data:`CJK_FONT`, a subset of Noto Sans CJK SC (SIL Open Font License 1.1, see
``OFL.txt`` beside it) made by ``scripts/subset_cjk_font.py``, so that a figure renders the same
on Linux, macOS and Windows without any system font. :func:`use_book_fonts` registers it.
"""

from __future__ import annotations

from pathlib import Path

#: The subset of Noto Sans CJK SC (its family name is :data:`CJK_FAMILY`).
CJK_FONT = Path(__file__).resolve().parent / "NotoSansCJKsc-Regular-subset.otf"
CJK_FAMILY = "Noto Sans CJK SC"
#: Matplotlib's ``font.family``: DejaVu Sans first, the CJK subset for the glyphs it lacks.
FAMILIES = ["DejaVu Sans", CJK_FAMILY]


def use_book_fonts() -> None:
    """Register :data:`CJK_FONT` with matplotlib and draw text in :data:`FAMILIES` (matplotlib
    takes each glyph from the first family that has it). A glyph that neither has would be drawn
    as an empty box with a "Glyph ... missing" warning; this turns that warning into an error, so
    a figure cannot silently lose a character."""
    import warnings

    import matplotlib
    from matplotlib import font_manager

    if CJK_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(CJK_FONT))
    matplotlib.rcParams["font.family"] = FAMILIES
    warnings.filterwarnings("error", message=r"Glyph \d+ .*missing from font")
