"""Work-arounds for other extensions' behaviour in a translated edition, one class each.

Each names the upstream behaviour it corrects; when the upstream extension changes, the class can
go (tests/test_chinese_edition.py fails when a translated exercise title or toc caption is lost).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.transforms.post_transforms import SphinxPostTransform

from verified_transformer.sphinx import editions
from verified_transformer.sphinx.i18n import warn_untranslated


def _exercise_titles(document: nodes.document) -> list[nodes.Element]:
    """sphinx-exercise's exercise titles (the ``{exercise}`` directive's argument)."""
    return [n for n in document.findall(nodes.subtitle) if type(n).__name__ == "exercise_subtitle"]


class TranslatableExerciseTitles(SphinxTransform):
    """sphinx-exercise (1.x) creates its ``exercise_subtitle`` without source or line, so
    Sphinx's Locale transform skips it: give each the source and line of its exercise. The label
    around it ("Exercise", "Solution to", which sphinx-exercise translates itself) is no message."""

    default_priority = 10  # before sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs: Any) -> None:
        for node in self.document.findall(nodes.title):
            if type(node).__name__ in ("exercise_title", "solution_title"):
                node["translatable"] = False
        for node in _exercise_titles(self.document):
            exercise = node.parent.parent if node.parent is not None else None
            if node.source or not node.rawsource or exercise is None:
                continue
            node.source = exercise.source or self.document["source"]
            node.line = exercise.line


class TranslatedExercisesInRegistry(SphinxTransform):
    """sphinx-exercise stores a copy of each exercise in ``env.sphinx_exercise_registry`` while
    reading, before Locale translates the page, and titles the solution ("Solution to Exercise 6
    (title)") from that copy: replace the copy with the translated exercise."""

    default_priority = 26  # after sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs: Any) -> None:
        registry = getattr(self.env, "sphinx_exercise_registry", {})
        for node in self.document.findall(nodes.Element):
            entry = registry.get(node.get("label", ""))
            if (entry and entry["docname"] == self.env.docname and entry["type"] == "exercise"
                    and type(node).__name__.startswith("exercise_")):
                entry["node"] = node.deepcopy()


class TranslateTocCaptions(SphinxTransform):
    """sphinx-external-toc's ``InsertToctrees`` transform (priority 100) adds the table of
    contents, with the captions of its parts ("Chapters", "Appendices"), after Locale has
    translated the page: translate the captions from the page's catalog, where gettext put them."""

    default_priority = 101  # after sphinx_external_toc's InsertToctrees (100)

    def apply(self, **kwargs: Any) -> None:
        from sphinx import addnodes
        from sphinx.locale import init as init_locale
        from sphinx.util.i18n import docname_to_domain

        if editions.edition_of(self.config.language) == "en":
            return
        toctrees = [t for t in self.document.findall(addnodes.toctree) if t.get("caption")]
        if not toctrees:
            return
        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        dirs = [str(Path(self.env.srcdir, d)) for d in self.config.locale_dirs]
        catalog, _found = init_locale(dirs, self.config.language, domain)
        for toctree in toctrees:
            translated = catalog.gettext(toctree["caption"])
            if translated == toctree["caption"]:
                warn_untranslated(f"{domain}.po", toctree["caption"], toctree)
                continue
            toctree["caption"] = toctree["rawcaption"] = translated


class ExtractExerciseTitles(SphinxPostTransform):
    """For the gettext builder: sphinx-exercise's post-transform (priority 20) merges the
    exercise's title into its own title node, where gettext cannot see it; put the titles in the
    page's catalog before that."""

    builders = ("gettext",)
    default_priority = 15

    def run(self, **kwargs: Any) -> None:
        from sphinx.util.i18n import docname_to_domain

        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        catalog = self.app.builder.catalogs[domain]
        for node in _exercise_titles(self.document):
            if node.source and node.rawsource:
                node.uid = getattr(node, "uid", "")
                catalog.add(node.rawsource, node)


class ChineseExerciseTitleParentheses(SphinxPostTransform):
    """sphinx-exercise's post-transforms (priorities 20-22) join an exercise's number and title as
    ``Exercise 3 (title)`` with ASCII parentheses, in every language; a Chinese title takes the
    full-width ones, ``练习 3（title）``."""

    default_priority = 30

    def run(self, **kwargs: Any) -> None:
        if not (self.config.language or "").startswith("zh"):
            return
        full_width = {" (": "（", ")": "）"}
        for title in self.document.findall(nodes.title):
            if not type(title.parent).__name__.startswith(("exercise", "solution")):
                continue
            for text in list(title.findall(nodes.Text)):
                if str(text) in full_width and not isinstance(text.parent, nodes.literal):
                    text.parent.replace(text, nodes.Text(full_width[str(text)]))


def setup(app: Sphinx) -> None:
    """Register the work-arounds (called by the extension's ``setup``)."""
    app.add_transform(TranslatableExerciseTitles)
    app.add_transform(TranslatedExercisesInRegistry)
    app.add_transform(TranslateTocCaptions)
    app.add_post_transform(ExtractExerciseTitles)
    app.add_post_transform(ChineseExerciseTitleParentheses)
