"""Each edition shows the notebooks' outputs in its own language.

A stored notebook holds its printed lines and figures once per language
(:func:`verified_transformer.notebook.say`, :func:`~verified_transformer.notebook.show_figure`),
each output tagged ``metadata.vt.language``. When Sphinx reads a notebook (``source-read``, before
myst-nb parses it), this keeps the outputs of the edition's language and the untagged ones, and
turns the kept lines into ``stdout`` (myst-nb merges them with the prints around them, as before).
The notebooks offered for download keep the edition's outputs too. In a translated edition it
warns (an error in the strict build) for a kept output that the catalog did not translate and for
English words in an untagged text output (a ``print``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

from verified_transformer.i18n import english_prose
from verified_transformer.sphinx import editions
from verified_transformer.sphinx.i18n import warn_untranslated

logger = logging.getLogger(__name__)
CATALOG_PATH = "locales/{language}/LC_MESSAGES/verified_transformer.po"


def outputs_for(outputs: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """The outputs an edition shows: untagged ones, and those tagged with its language (a
    tagged line becomes ``stdout``)."""
    kept = []
    for output in outputs:
        tag = output.get("metadata", {}).get("vt", {}).get("language")
        if tag is None:
            kept.append(output)
        elif tag == language:
            data = output.get("data", {})
            if set(data) == {"text/plain"}:
                text = data["text/plain"]
                text = "".join(text) if isinstance(text, list) else text
                kept.append({"output_type": "stream", "name": "stdout", "text": text + "\n",
                             "metadata": output["metadata"]})
            else:
                kept.append(output)
    return kept


def _text(output: dict[str, Any]) -> str:
    text = output.get("text") or output.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else text


def select_outputs(app: Sphinx, docname: str, source: list[str]) -> None:
    """``source-read``: keep the edition's outputs of a notebook (see the module's docstring)."""
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb":
        return
    language = editions.edition_of(app.config.language)
    notebook = json.loads(source[0])
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        cell["outputs"] = outputs_for(cell.get("outputs", []), language)
        if language == "en":
            continue
        for output in cell["outputs"]:
            for msgid in output.get("metadata", {}).get("vt", {}).get("untranslated", []):
                warn_untranslated(CATALOG_PATH.format(language=language),
                                  f"(cell {index}) {msgid}", docname)
            if "vt" not in output.get("metadata", {}) and "image/png" not in output.get("data", {}):
                # (a tagged line was checked when say() printed it, its data left out)
                words = english_prose(_text(output))
                if words:
                    logger.warning("English words in a %s output of cell %d (print it with "
                                   "verified_transformer.notebook.say): %s", language, index,
                                   ", ".join(dict.fromkeys(words)), location=docname,
                                   type="i18n", subtype="untranslated")
    source[0] = json.dumps(notebook, ensure_ascii=False)


def downloads_in_edition_language(app: Sphinx, exception: Exception | None) -> None:
    """``build-finished``: the notebooks a reader downloads from an edition (``_sources/``, the
    page's .ipynb button) keep that edition's outputs and the untagged ones."""
    if exception is not None or app.builder.format != "html":
        return
    language = editions.edition_of(app.config.language)
    for path in sorted(Path(app.outdir, "_sources").rglob("*.ipynb")):
        notebook = json.loads(path.read_text("utf8"))
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"] = [
                    o for o in cell.get("outputs", [])
                    if o.get("metadata", {}).get("vt", {}).get("language", language) == language
                ]
        path.write_text(json.dumps(notebook, ensure_ascii=False, indent=1) + "\n", "utf8")


def setup(app: Sphinx) -> None:
    app.connect("source-read", select_outputs)
    app.connect("build-finished", downloads_in_edition_language)
