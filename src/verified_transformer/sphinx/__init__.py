"""Sphinx extension: the book shows its formulas from the claims ledger, never re-typed.

Add ``verified_transformer.sphinx`` to ``extensions`` (in ``_config.yml``, ``sphinx.config``).
It provides the ``claim`` domain (:mod:`.domain`: the ``{claim}`` directive and role, the
``{claim:ref}`` link, the ``{claim-ledger}`` page and ``{article-formula}``), the extension's
messages and the checks of a translated edition (:mod:`.i18n`), the language switch
(:mod:`.editions`), each edition's notebook outputs (:mod:`.notebook_outputs`), line breaks in
long names in tables (:mod:`.wrap`) and work-arounds for other extensions
(:mod:`.upstream_patches`).
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

from verified_transformer.sphinx import (
    domain,
    editions,
    i18n,
    notebook_outputs,
    upstream_patches,
    wrap,
)
from verified_transformer.sphinx.i18n import catalog_messages

__all__ = ["catalog_messages", "setup"]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the domain, the transforms of a translated edition and the language switch."""
    domain.setup(app)
    app.add_transform(i18n.KeepMathUntranslated)
    app.add_transform(i18n.ReportUntranslated)
    app.add_post_transform(wrap.BreakLongNamesInTables)
    app.connect("doctree-resolved", i18n.translate_math_words, priority=900)  # after checks
    app.connect("config-inited", i18n.init_catalogs)  # before editions' handler: it translates
    upstream_patches.setup(app)
    editions.setup(app)
    notebook_outputs.setup(app)
    return {"version": "2", "parallel_read_safe": True, "parallel_write_safe": True}
