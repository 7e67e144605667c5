"""The book's editions (English, Chinese) and the language switch on every page.

The English edition is built at the root of the HTML folder, every other one in a sub-folder named
after its language (``_build/html/zh_CN/``), from the same sources. Each page's header links to
the same page in the other edition with a relative URL, so the switch works from ``file://`` as
well as over HTTP; ``<link rel="alternate" hreflang>`` says the same to search engines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config

# (Sphinx language, name shown in the switch, BCP 47 tag, folder under the HTML root)
EDITIONS = (
    ("en", "English", "en", ""),
    ("zh_CN", "中文", "zh-CN", "zh_CN"),
)
SWITCH_TEMPLATE = "vt-language-switch.html"


def edition_of(language: str | None) -> str:
    """The edition a Sphinx ``language`` builds (``None`` and ``en`` are the English one)."""
    known = {e[0] for e in EDITIONS}
    language = language or "en"
    if language not in known:
        raise ValueError(f"no edition for language {language!r}; editions: {sorted(known)}")
    return language


def links(pagename: str, language: str | None, suffix: str = ".html") -> list[dict[str, Any]]:
    """The switch's entries for page ``pagename`` of the edition ``language``: each edition's
    name, language tag, relative URL of the same page, and whether it is this one."""
    current = edition_of(language)
    folder = {e[0]: e[3] for e in EDITIONS}
    # from this page up to the HTML root of this edition, then to the root of the English one
    up = "../" * pagename.count("/") + ("../" if folder[current] else "")
    return [
        {
            "language": lang,
            "name": name,
            "tag": tag,
            "href": up + (f"{sub}/" if sub else "") + pagename + suffix,
            "current": lang == current,
        }
        for lang, name, tag, sub in EDITIONS
    ]


def _add_switch(app: Sphinx, config: Config) -> None:
    """Put the switch in the article header, after the theme's own buttons (for the book's
    theme, sphinx-book-theme, whose header has an ``article_header_end`` slot); translate the
    configured interface text."""
    _translate_configured_text(config)
    if config.html_theme != "sphinx_book_theme":
        return
    config.templates_path = [*config.templates_path, str(Path(__file__).parent / "templates")]
    options = dict(config.html_theme_options or {})
    end = options.get("article_header_end", ["article-header-buttons.html"])
    end = [s.strip() for s in end.split(",")] if isinstance(end, str) else list(end)
    if SWITCH_TEMPLATE not in end:
        end.append(SWITCH_TEMPLATE)
    options["article_header_end"] = end
    config.html_theme_options = options


# Interface text that is configuration, not a theme string (so no theme catalog has it):
# Jupyter Book's search field, myst-nb's button on a hidden code cell ("source": hide-input), the
# footer's author.
CONFIGURED_TEXT = {
    "author": "The verified-transformer authors",  # the footer's "By ..."
    "nb_code_prompt_show": "Show code cell {type}",
    "nb_code_prompt_hide": "Hide code cell {type}",
}


def _translate_configured_text(config: Config) -> None:
    """Translate the interface text set in configuration (the extension's catalog is loaded)."""
    from verified_transformer.sphinx.i18n import SEARCH_BAR_TEXT
    from verified_transformer.sphinx.i18n import gettext as translate

    if edition_of(config.language) == "en":
        return
    for name, default in CONFIGURED_TEXT.items():
        if getattr(config, name, None) == default:
            setattr(config, name, translate(default))
    options = dict(config.html_theme_options or {})
    if options.get("search_bar_text") == SEARCH_BAR_TEXT:
        options["search_bar_text"] = translate(SEARCH_BAR_TEXT)
        config.html_theme_options = options


def _translate_book_title(app: Sphinx, config: Config) -> None:
    """The book's title (``html_title``, from ``_config.yml``'s ``title``) is the root page's
    title: a translated edition shows the root page's translation of it (the Chinese one adds a
    Chinese subtitle), read from that page's catalog. It runs after sphinx-external-toc has set
    ``master_doc`` to the table of contents' root."""
    if edition_of(config.language) == "en" or not config.html_title or not config.locale_dirs:
        return
    from babel.messages.pofile import read_po

    path = Path(app.srcdir, config.locale_dirs[0], config.language, "LC_MESSAGES",
                f"{config.master_doc or config.root_doc}.po")
    if not path.is_file():
        return
    with path.open("rb") as f:
        message = read_po(f).get(config.html_title)
    if message is not None and message.string and not message.fuzzy:
        config.html_title = message.string


CHINESE_REFERENCE_STYLE = "author_year_zh"


def _chinese_reference_style() -> type:
    """sphinxcontrib-bibtex's ``author_year`` with Chinese conjunctions: "Xiong 等 [2020]",
    "Ba 和 Hinton"; names and years as the bibliography writes them."""
    from dataclasses import dataclass, field

    from sphinxcontrib.bibtex.style.referencing import PersonStyle
    from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

    @dataclass
    class ChineseAuthorYear(AuthorYearReferenceStyle):
        person: PersonStyle = field(default_factory=lambda: PersonStyle(
            sep="、", sep2=" 和 ", last_sep=" 和 ", other=" 等"))

    return ChineseAuthorYear


def _cite_in_chinese(app: Sphinx, config: Config) -> None:
    """The Chinese edition cites with :data:`CHINESE_REFERENCE_STYLE` where the book cites
    author-year."""
    style = getattr(config, "bibtex_reference_style", None)  # None: no sphinxcontrib-bibtex
    if edition_of(config.language) != "zh_CN" or style != "author_year":
        return
    from sphinxcontrib.bibtex.plugin import register_plugin

    register_plugin("sphinxcontrib.bibtex.style.referencing", CHINESE_REFERENCE_STYLE,
                    _chinese_reference_style(), force=True)
    config.bibtex_reference_style = CHINESE_REFERENCE_STYLE


def _page_context(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    entries = links(pagename, app.config.language, context.get("file_suffix") or ".html")
    context["vt_editions"] = entries
    context["metatags"] = context.get("metatags", "") + "".join(
        f'\n<link rel="alternate" hreflang="{e["tag"]}" href="{e["href"]}" />' for e in entries
    )


def setup(app: Sphinx) -> None:
    """Register the switch (called by the extension's ``setup``)."""
    app.connect("config-inited", _add_switch)  # after the extension's catalogs are loaded
    app.connect("config-inited", _translate_book_title, priority=900)
    app.connect("config-inited", _cite_in_chinese)
    app.connect("html-page-context", _page_context)
