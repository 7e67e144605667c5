"""Build one edition of the book from the one configuration (_config.yml, _toc.yml).

    python scripts/build_edition.py en        # English HTML      -> _build/html/
    python scripts/build_edition.py zh_CN     # Chinese HTML      -> _build/html/zh_CN/
    python scripts/build_edition.py gettext   # message templates -> _build/gettext/
    python scripts/build_edition.py en zh_CN  # both at once (two processes; `make book`)

Jupyter Book's CLI cannot set Sphinx's ``language``, so this calls the same function its
``build`` command calls (``jupyter_book.sphinx.build_sphinx``) with the same ``_config.yml`` and
one override, ``language``. Warnings are errors, as in ``make book``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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


def build_at_once(editions: list[str]) -> int:
    """Build ``editions`` in parallel processes (each Sphinx build uses one core); print each
    one's log when it ends, and return the first non-zero exit status."""
    logs = {e: tempfile.TemporaryFile() for e in editions}
    runs = {e: subprocess.Popen([sys.executable, __file__, e], stdout=logs[e],
                                stderr=subprocess.STDOUT) for e in editions}
    status = 0
    for edition, run in runs.items():
        code = run.wait()
        logs[edition].seek(0)
        sys.stdout.write(logs[edition].read().decode("utf8", "replace"))
        print(f"[{edition}] {'built' if code == 0 else f'FAILED (exit status {code})'}")
        status = status or code
    return status


if __name__ == "__main__":
    editions = sys.argv[1:]
    if not editions or any(e not in EDITIONS for e in editions):
        sys.exit(f"usage: build_edition.py EDITION [EDITION ...], editions: {', '.join(EDITIONS)}")
    sys.exit(build(editions[0]) if len(editions) == 1 else build_at_once(editions))
