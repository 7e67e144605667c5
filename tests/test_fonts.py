"""The packaged CJK figure font: it covers what the figures draw, carries its licence, and a
missing glyph is an error rather than an empty box."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import matplotlib
import pytest
from fontTools.ttLib import TTFont

from verified_transformer.fonts import CJK_FAMILY, CJK_FONT, FAMILIES, use_book_fonts

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("subset_cjk_font",
                                               ROOT / "scripts" / "subset_cjk_font.py")
subset_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subset_script)


def test_the_subset_draws_every_character_a_figure_may_need() -> None:
    have = {chr(code) for code in TTFont(CJK_FONT).getBestCmap()}
    missing = sorted(subset_script.figure_characters() - have)
    assert not missing, (
        f"the CJK figure font lacks {''.join(missing)!r} "
        f"({', '.join(f'U+{ord(c):04X}' for c in missing)}): run "
        "`python scripts/subset_cjk_font.py PATH/TO/NotoSansCJK-Regular.ttc`")


def test_the_subset_is_small_and_carries_its_licence() -> None:
    font = TTFont(CJK_FONT)
    assert font["name"].getDebugName(1) == CJK_FAMILY
    assert "SIL Open Font License" in font["name"].getDebugName(13)
    licence = (CJK_FONT.parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence and CJK_FONT.name in licence
    assert CJK_FONT.stat().st_size < 1_000_000


def test_figures_draw_chinese_with_the_packaged_font_and_fail_on_a_missing_glyph() -> None:
    import matplotlib.pyplot as plt

    with warnings.catch_warnings(), matplotlib.rc_context():
        use_book_fonts()
        assert matplotlib.rcParams["font.family"] == FAMILIES
        fig, ax = plt.subplots()
        try:
            ax.set_title("残差连接 2026年12月1日星期二")
            fig.canvas.draw()  # every glyph found: no warning, so no error
            ax.set_title("鬱")  # not in the subset, nor in DejaVu Sans
            with pytest.raises(UserWarning, match=r"Glyph 39729 .*missing"):
                fig.canvas.draw()
        finally:
            plt.close(fig)
