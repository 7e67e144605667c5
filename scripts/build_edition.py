"""Build one edition of the book from the one configuration (_config.yml, _toc.yml).

    python scripts/build_edition.py en        # English HTML      -> _build/html/
    python scripts/build_edition.py zh_CN     # Chinese HTML      -> _build/html/zh_CN/
    python scripts/build_edition.py gettext   # message templates -> _build/gettext/

Jupyter Book's CLI cannot set Sphinx's ``language``, so this calls the same function its
``build`` command calls (``jupyter_book.sphinx.build_sphinx``) with the same ``_config.yml`` and
one override, ``language``. Warnings are errors, as in ``make book``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jupyter_book.sphinx import build_sphinx

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
EDITIONS = {
    # edition: (builder, output folder, doctree folder, configuration overrides)
    "en": ("html", BUILD / "html", BUILD / ".doctrees", {}),
    "zh_CN": ("html", BUILD / "html" / "zh_CN", BUILD / ".doctrees-zh_CN", {"language": "zh_CN"}),
    "gettext": ("gettext", BUILD / "gettext", BUILD / ".doctrees-gettext", {}),
}


def build(edition: str) -> int:
    """Build ``edition``; return Sphinx's exit status (0 when there was no warning)."""
    builder, out, doctrees, overrides = EDITIONS[edition]
    os.chdir(ROOT)  # the configuration's paths (the Chinese search dictionary) are relative
    result = build_sphinx(
        ROOT,
        out,
        noconfig=True,
        path_config=ROOT / "_config.yml",
        doctreedir=doctrees,
        confoverrides={
            "external_toc_path": (ROOT / "_toc.yml").as_posix(),
            "latex_individualpages": False,
            "nitpicky": True,
            **overrides,
        },
        builder=builder,
        warningiserror=True,
        keep_going=True,
    )
    return int(result) if not isinstance(result, Exception) else 1


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in EDITIONS:
        sys.exit(f"usage: build_edition.py {{{','.join(EDITIONS)}}}")
    sys.exit(build(sys.argv[1]))
