"""What every chapter notebook's one set-up cell calls.

Every notebook starts with ``from verified_transformer.notebook import setup; setup()``, so that
re-executing it top to bottom reproduces its stored outputs byte for byte (seeds, deterministic
kernels, print options, figure style and fonts are fixed here, in one place).
``setup(explicit=True)`` also switches this book's modules to their explicit formulas for the
whole notebook.
:func:`say` prints a line and :func:`show_figure` shows a figure in each edition's language
(:mod:`verified_transformer.i18n`): the stored notebook holds both, each edition shows its own.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from verified_transformer.nn import set_fused_kernels

FIGSIZE = (6.4, 3.6)


def deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True)``, without its import of ``torch._inductor``.

    That function sets two things: the flag that torch's kernels read, and
    ``torch._inductor.config.deterministic`` for ``torch.compile``; importing the latter loads the
    compiler stack (``torch._dynamo``, seconds per kernel start). No chapter compiles, so until
    something has loaded the compiler this sets the kernels' flag alone and asks for deterministic
    compilation through ``TORCHINDUCTOR_DETERMINISTIC=1``, which the inductor config reads when it
    is first imported: a later ``torch.compile`` is deterministic as well.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True)
        return
    os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1"
    torch._C._set_deterministic_algorithms(True)


def setup(seed: int = 0, *, explicit: bool = False) -> None:
    """Seed every RNG, force deterministic kernels, fix print options, the figure style and fonts
    (:func:`verified_transformer.fonts.use_book_fonts`: Chinese glyphs from the packaged font).

    ``explicit=True`` selects the explicit formulas of :mod:`verified_transformer.nn` instead of
    torch's fused kernels (:func:`verified_transformer.nn.set_fused_kernels`) until changed.
    """
    if not isinstance(explicit, bool):
        raise TypeError(f"explicit must be a bool, got {type(explicit).__name__}")
    set_fused_kernels(not explicit)
    random.seed(seed)
    torch.manual_seed(seed)
    deterministic_kernels()
    torch.set_printoptions(precision=4, sci_mode=False, linewidth=100)
    try:
        import numpy as np
    except ImportError:  # numpy is optional for the library itself
        pass
    else:
        np.random.seed(seed)  # noqa: NPY002 (seeds the legacy global RNG a reader may call)
        np.set_printoptions(precision=4, suppress=True, linewidth=100)
    try:
        import matplotlib
    except ImportError:
        return
    from verified_transformer.fonts import use_book_fonts

    matplotlib.rcParams.update(
        {
            "figure.figsize": FIGSIZE,
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "font.size": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    use_book_fonts()


def _show(data: dict[str, Any], language: str, messages: list[Any], missing: list[str]) -> None:
    from IPython.display import display

    vt = {"language": language, "messages": list(dict.fromkeys(map(_key, messages)))}
    if missing:
        vt["untranslated"] = list(dict.fromkeys(missing))
    display(data, raw=True, metadata={"vt": vt})


def _key(msgid: Any) -> Any:
    return list(msgid) if isinstance(msgid, tuple) else msgid


@contextlib.contextmanager
def _glyphs_required() -> Iterator[None]:
    """Raise when matplotlib's mathtext logs a glyph that its font lacks (a label mixing
    Chinese and ``$math$``); plain texts' missing glyphs are errors already (``use_book_fonts``)."""
    import logging

    lacking: list[str] = []

    class Lacking(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "does not have a glyph" in record.getMessage():
                lacking.append(record.getMessage())

    handler, logger = Lacking(), logging.getLogger("matplotlib.mathtext")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if lacking:
        raise RuntimeError(f"{lacking[0]}: add it to the font (scripts/subset_cjk_font.py)")


def say(message: str, /, **values: Any) -> None:
    """Print ``message.format(**values)`` once in each language of
    :func:`verified_transformer.i18n.languages`, each output tagged with its language.

    ``message`` is an English msgid of the catalog (or a
    :class:`~verified_transformer.i18n.Message`, such as an exercise checker's answer); a value
    that is a Message (``tr("at chance")``) is translated as well. A Chinese line that still
    holds English words after translation is an error here: a value that should have been a
    Message.
    """
    from verified_transformer.i18n import Message, Verbatim, english_prose, languages

    if not isinstance(message, Message):
        message = Message(str(message), values)
    elif values:
        message = Message(message.msgid, {**message.values, **values}, message.plural, message.n)
    for language in languages():
        missing: list[str] = []
        text = message.text(language, missing)
        if language != "en" and not missing:
            words = english_prose(Message(message.msgid, {
                k: "" if isinstance(v, Verbatim) else v for k, v in message.values.items()
            }, message.plural, message.n).text(language))
            if words:
                raise ValueError(f"say: the {language} line keeps English words {words}; pass "
                                 f"them as tr(...) values (or Verbatim for data): {text!r}")
        _show({"text/plain": text}, language, message.msgids(), missing)


def show_figure(fig: Any) -> None:
    """Show ``fig`` once per language (:func:`rendered`), each output tagged, then close it."""
    import base64

    import matplotlib.pyplot as plt

    from verified_transformer.i18n import languages

    try:
        for language, png, keys, missing in rendered(fig, languages()):
            data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": repr(fig)}
            _show(data, language, keys, missing)
    finally:
        plt.close(fig)


def rendered(
    fig: Any, languages: Iterable[str]
) -> Iterator[tuple[str, bytes, list[Any], list[str]]]:
    """``fig`` as PNG in each language: (language, PNG bytes, the catalog keys of its texts, the
    texts the catalog lacks, shown in English). The figure keeps the last language's texts.

    Every text of the figure with a word in it (titles, axis labels, legend entries, annotations,
    tick labels set as text) is looked up in the catalog: the English text, or the
    :class:`~verified_transformer.i18n.Message` it was made from (``ax.set_title(tr("{n} layers",
    n=12))``). A Chinese figure draws with the CJK font first (its Latin letters too, so that a
    label mixing Chinese and ``$math$`` renders whole).
    """
    import io

    import matplotlib.pyplot as plt
    from matplotlib.text import Text
    from matplotlib.ticker import FixedFormatter, FixedLocator

    from verified_transformer.fonts import CJK_FAMILY, FAMILIES, use_book_fonts
    from verified_transformer.i18n import has_words, made

    use_book_fonts()  # the CJK font registered, a missing glyph an error (idempotent)
    fig.canvas.draw()  # the tick labels exist after a draw
    originals = {t: t.get_text() for t in fig.findobj(Text) if has_words(t.get_text())}
    # tick labels given as text (set_xticks(ticks, labels), any formatter), at fixed ticks
    sequences = {axis: [t.get_text() for t in axis.get_ticklabels()] for ax in fig.axes
                 for axis in (ax.xaxis, ax.yaxis)
                 if isinstance(axis.get_major_locator(), FixedLocator)}
    sequences = {axis: seq for axis, seq in sequences.items() if any(map(has_words, seq))}
    messages = [made(text) for text in originals.values()]
    messages += [made(text) for seq in sequences.values() for text in seq if has_words(text)]
    keys = [k for m in messages for k in m.msgids()]
    for language in languages:
        missing: list[str] = []
        for t, text in originals.items():
            t.set_text(made(text).text(language, missing))
        for axis, seq in sequences.items():
            axis.set_major_formatter(FixedFormatter(
                [made(s).text(language, missing) if has_words(s) else s for s in seq]))
        families = FAMILIES if language == "en" else [CJK_FAMILY, *FAMILIES]
        for t in fig.findobj(Text):  # each text keeps the families it was made with
            t.set_fontfamily(families)
        buffer = io.BytesIO()
        with plt.rc_context({"font.family": families}), _glyphs_required():
            fig.savefig(buffer, format="png", bbox_inches="tight")
        yield language, buffer.getvalue(), keys, list(dict.fromkeys(missing))
