"""The extension's messages (catalog ``verified_transformer``), and checks of a translated edition.

Generated strings go through ``sphinx.locale`` (the catalog is looked up in the project's
``locale_dirs``): verdict sentences (:mod:`verified_transformer.claims.verdicts`), claim scopes and
notes, the ledger page's labels. :func:`catalog_messages` lists them all; ``make translations``
writes them to ``locales/<language>/LC_MESSAGES/verified_transformer.po``, which the extension
compiles. In a translated edition every message of a page that has no translation is a warning
naming the page's catalog and the message, so a strict build fails until it is translated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.locale import get_translation, get_translator
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.nodes import extract_messages

from verified_transformer.i18n import needs_translation
from verified_transformer.sphinx import editions

CATALOG = "verified_transformer"
SEARCH_BAR_TEXT = "Search this book..."  # Jupyter Book's html.search_bar_text
_ = get_translation(CATALOG)
logger = logging.getLogger(__name__)


def gettext(message: str) -> str:
    """``message`` in the book's language (English until the catalog is loaded)."""
    return str(_(message))


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural message for ``n``, in the book's language (its plural rule)."""
    return get_translator(CATALOG).ngettext(singular, plural, n)


def catalog_messages() -> list[str | tuple[str, str]]:
    """Every message the book's code translates, in order: those marked ``_()`` (or
    ``ngettext``, a (singular, plural) pair) in the extension and ``claims/verdicts.py``; every
    claim's scope, note, wrong variants' names (and the nouns its formula reader gives them) and
    what its formula checker takes; the named mistakes' nouns; the words inside formulas; the
    interface text set in configuration; the ``tr``/``ntr``/``say`` messages of the package
    (exercise feedback among them) and of the benchmark scripts that draw the book's figures;
    and the messages that the stored notebooks' outputs recorded (:func:`notebook_messages`);
    not those without words, which every language shows as they are."""
    from babel.messages.extract import extract_from_file

    from verified_transformer import claims
    from verified_transformer.derive import mistakes

    package = Path(__file__).resolve().parent.parent
    sphinx_keywords = {"_": None, "gettext": None, "ngettext": (1, 2)}
    code_keywords = {"tr": None, "ntr": (1, 2), "say": None}
    sources = [(path, sphinx_keywords) for path in sorted(Path(__file__).parent.glob("*.py"))]
    sources.append((package / "claims" / "verdicts.py", sphinx_keywords))
    sources += [(path, code_keywords) for path in sorted(package.rglob("*.py"))
                if "sphinx" not in path.parts]
    # scripts that draw the book's figure files in each language (benchmarks/attention_cost.py)
    sources += [(path, code_keywords)
                for path in sorted((package.parents[1] / "benchmarks").glob("*.py"))]
    messages: list[str | tuple[str, str]] = []
    for source, keywords in sources:
        for _lineno, message, _comments, _context in extract_from_file(
            "python", str(source), keywords=keywords
        ):
            messages.append(message if isinstance(message, str) else tuple(message))
    messages += [c.scope for c in claims.CLAIMS] + [c.note for c in claims.CLAIMS if c.note]
    messages += [c.takes for c in claims.CLAIMS if c.takes]
    messages += [name for c in claims.CLAIMS for name in c.variants]
    # what a formula checker calls each wrong variant (the readers' nouns) and the named
    # mistakes' nouns (exercise feedback), shown as Messages
    messages += [noun for c in claims.CLAIMS if c.reader is not None
                 for noun in c.reader.names.values()]
    messages += [m.noun for m in vars(mistakes).values() if isinstance(m, mistakes.Mistake)]
    messages += [SEARCH_BAR_TEXT, *editions.CONFIGURED_TEXT.values(), *MATH_WORDS]
    messages += notebook_messages()
    return [m for m in dict.fromkeys(messages) if not isinstance(m, str) or needs_translation(m)]


def notebook_messages() -> list[str | tuple[str, str]]:
    """The messages the notebooks' stored outputs were made from (``metadata.vt.messages``)."""
    import json

    messages: list[str | tuple[str, str]] = []
    for path in sorted((Path(__file__).resolve().parents[3] / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text("utf8"))["cells"]:
            for output in cell.get("outputs", []):
                recorded = output.get("metadata", {}).get("vt", {}).get("messages", [])
                messages += [m if isinstance(m, str) else tuple(m) for m in recorded]
    return messages


def warn_untranslated(catalog: str, message: str, node: nodes.Node) -> None:
    """The warning (an error in the strict build) for a message that has no translation."""
    text = " ".join(message.split())
    logger.warning(
        "untranslated message in %s (run `make translations`, then translate the entries it "
        "lists): %s",
        catalog,
        text[:100] + ("..." if len(text) > 100 else ""),
        location=node,
        type="i18n",
        subtype="untranslated",
    )


class KeepMathUntranslated(SphinxTransform):
    """Display math is not a message: the Chinese edition shows the same formulas and the same
    cell outputs (SymPy's LaTeX outputs are math blocks too), so none goes into the catalogs."""

    default_priority = 10  # before sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs: Any) -> None:
        for node in self.document.findall(nodes.math_block):
            node["translatable"] = False


class ReportUntranslated(SphinxTransform):
    """In a translated edition, warn for every message without a translation (after Locale)."""

    default_priority = 25  # after sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs: Any) -> None:
        if editions.edition_of(self.config.language) == "en":
            return
        catalog = f"{self.config.locale_dirs[0].rstrip('/')}/{self.config.language}/LC_MESSAGES/"
        catalog += f"{self.env.docname}.po"
        for node, message in extract_messages(self.document):
            # Locale replaces an image's alt text without marking the image translated; the
            # catalog check (tests/test_chinese_catalogs.py) covers alt texts.
            if node.get("translated") is False and not isinstance(node, nodes.image):
                warn_untranslated(catalog, message, node)


# the words inside a formula that a translated edition translates (``\text{...}`` of a claim's
# display: Ba et al.'s Table 1 rows, "for", "otherwise"), from the extension's catalog
MATH_WORDS = (
    "for", "otherwise", "weight matrix re-scaling", "weight matrix re-centering",
    "weight vector re-scaling", "dataset re-scaling", "dataset re-centering",
    "single training case re-scaling", "BN = batch norm", "WN = weight norm", "LN = layer norm",
    "RMS = RMS norm",
)
_TEXT_IN_MATH = re.compile(r"\\text\{([^{}]*)\}")


def translate_math_words(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """``doctree-resolved`` (after the formula checks): in a translated edition, each
    ``\text{...}`` of a formula whose words are in :data:`MATH_WORDS` shows their translation."""
    if editions.edition_of(app.config.language) == "en":
        return

    def words(match: re.Match[str]) -> str:
        text = match.group(1)
        return "\\text{" + gettext(text) + "}" if text in MATH_WORDS else match.group(0)

    for node in doctree.findall(lambda n: isinstance(n, (nodes.math, nodes.math_block))):
        latex = node.astext()
        translated = _TEXT_IN_MATH.sub(words, latex)
        if translated != latex:
            node.children = [nodes.Text(translated)]
            if isinstance(node, nodes.math_block):
                node["latex"] = translated


def init_catalogs(app: Sphinx, config: Any) -> None:
    """Also read this catalog from the project's own ``locale_dirs`` (a translated edition)."""
    from sphinx import locale
    from sphinx.util.i18n import CatalogRepository

    language = app.config.language
    repository = CatalogRepository(
        app.srcdir, app.config.locale_dirs, language, app.config.source_encoding
    )
    for catalog in repository.catalogs:  # Sphinx compiles the pages' catalogs, not this one
        if catalog.domain == CATALOG and catalog.is_outdated():
            catalog.write_mo(language, app.config.gettext_allow_fuzzy_translations)
    dirs = [str(Path(app.srcdir, d)) for d in app.config.locale_dirs]
    locale.init(dirs, app.config.language, CATALOG)
