"""The built Chinese edition (``_build/html/zh_CN``), read as HTML: its prose is Chinese.

Outside code, cell outputs, math, citations and the bibliography, no paragraph, list item, table
cell, heading or caption of a Chinese page may be English prose (six or more English words and no
Chinese character; the glossary's English terms, marked ``kept in English`` in its catalog, are
exempt), no MyST markup may show as text (a translation that broke it), every figure's alt text is
Chinese, the theme speaks Chinese and the search index holds Chinese words. Runs after
``make book``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from bs4 import BeautifulSoup

pytestmark = pytest.mark.browser  # it reads the built book, like the browser test

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("VT_HTML_DIR", ROOT / "_build" / "html")).resolve()
CHINESE_DIR = HTML_DIR / "zh_CN"
_spec = importlib.util.spec_from_file_location("translations", ROOT / "scripts" / "translations.py")
translations = importlib.util.module_from_spec(_spec)
sys.modules["translations"] = translations
_spec.loader.exec_module(translations)

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")  # with Chinese punctuation
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
ENGLISH_PROSE_WORDS = 6
NOT_PROSE = ("pre", "code", "script", "style", ".highlight", ".cell_output", ".output",
             ".math", "mjx-container", ".bibliography", ".citation", ".docutils.literal",
             'a[href*="references.html#"]', ".bibtex-citation")  # citations: authors' names
BLOCKS = ("p", "li", "dt", "dd", "th", "td", "h1", "h2", "h3", "h4", "figcaption", "caption")
# MyST markup, or TeX (a section title with math shown as a link's text), left as text
LEFTOVER_MARKUP = re.compile(r"\*\*|\{(?:ref|doc|cite:[pt]|claim|download)\}|\]\(|`|\\[A-Za-z]+")


def content_pages(html_dir: Path) -> list[Path]:
    """The pages built from a book source (every page but search, genindex and redirects)."""
    pages = []
    for page in sorted(html_dir.rglob("*.html")):
        relative = page.relative_to(html_dir)
        if relative.parts[0].startswith("_") or relative.parts[0] == "zh_CN":
            continue
        stem = ROOT / relative.with_suffix("")
        if stem.with_suffix(".md").is_file() or stem.with_suffix(".ipynb").is_file():
            pages.append(page)
    return pages


def article(page: Path) -> BeautifulSoup:
    """The page's article, without what is not prose (code, outputs, math, bibliography)."""
    soup = BeautifulSoup(page.read_text("utf8"), "html.parser")
    body = soup.select_one("article.bd-article") or soup
    for element in body.select(", ".join(NOT_PROSE)):
        element.decompose()
    return body


def kept_in_english() -> set[str]:
    """The catalog entries translators kept in English on purpose (as rendered text)."""
    kept = set()
    for path in translations.catalogs():
        with path.open("rb") as f:
            for message in read_po(f):
                if any(translations.KEPT_IN_ENGLISH in c for c in message.user_comments):
                    msgid = message.id if isinstance(message.id, str) else message.id[-1]
                    text = translations.CODE.sub("", translations.MATH.sub("", msgid))
                    kept.add(" ".join(text.split()))
    return kept


def english_prose(body: BeautifulSoup, kept: set[str]) -> list[str]:
    """Blocks of ``body`` (innermost ones) that are English prose."""
    found = []
    for block in body.find_all(BLOCKS):
        if block.find(BLOCKS):
            continue  # the inner blocks are looked at one by one
        text = " ".join(block.get_text(" ").split())
        if CJK.search(text) or len(ENGLISH_WORD.findall(text)) < ENGLISH_PROSE_WORDS:
            continue
        if " ".join(text.replace(" ,", ",").split()) in kept or text in kept:
            continue
        found.append(text[:120])
    return found


@pytest.fixture(scope="module")
def chinese_pages() -> dict[str, BeautifulSoup]:
    if not (CHINESE_DIR / "index.html").is_file():
        pytest.fail(f"no Chinese edition at {CHINESE_DIR}: run `make book` first", pytrace=False)
    pages = {p.relative_to(CHINESE_DIR).as_posix(): article(p) for p in content_pages(CHINESE_DIR)}
    assert pages, "the Chinese edition has no content page"
    return pages


def test_every_page_of_the_english_edition_has_a_chinese_page() -> None:
    english = {p.relative_to(HTML_DIR).as_posix() for p in content_pages(HTML_DIR)}
    chinese = {p.relative_to(CHINESE_DIR).as_posix() for p in content_pages(CHINESE_DIR)}
    assert english and english == chinese, sorted(english ^ chinese)


def test_chinese_pages_have_no_english_prose(chinese_pages: dict[str, BeautifulSoup]) -> None:
    kept = kept_in_english()
    failures = {page: english_prose(body, kept) for page, body in chinese_pages.items()}
    failures = {page: blocks for page, blocks in failures.items() if blocks}
    assert not failures, "English prose in the Chinese edition (translate it in its catalog):\n" + (
        "\n".join(f"{page}:\n  " + "\n  ".join(blocks) for page, blocks in failures.items()))


def test_most_prose_of_the_chinese_edition_is_chinese(
    chinese_pages: dict[str, BeautifulSoup],
) -> None:
    """Share of prose blocks with Chinese in them, over the whole edition (printed)."""
    blocks = [" ".join(b.get_text(" ").split()) for body in chinese_pages.values()
              for b in body.find_all(BLOCKS) if not b.find(BLOCKS)]
    prose = [b for b in blocks if len(ENGLISH_WORD.findall(b)) + len(CJK.findall(b)) >= 4]
    share = sum(bool(CJK.search(b)) for b in prose) / len(prose)
    print(f"Chinese edition: {share:.1%} of {len(prose)} prose blocks are Chinese")
    assert share >= 0.95, f"only {share:.1%} of the Chinese edition's prose blocks are Chinese"


def test_no_markup_shows_as_text(chinese_pages: dict[str, BeautifulSoup]) -> None:
    failures = {}
    for page, body in chinese_pages.items():
        texts = [" ".join(b.get_text(" ").split()) for b in body.find_all(BLOCKS)]
        bad = [t[:120] for t in texts if LEFTOVER_MARKUP.search(t)]
        if bad:
            failures[page] = bad
    assert not failures, f"MyST markup shown as text (a broken translation): {failures}"


def test_figures_are_described_in_chinese(chinese_pages: dict[str, BeautifulSoup]) -> None:
    images = {page: [img.get("alt", "") for img in body.find_all("img")]
              for page, body in chinese_pages.items()}
    assert sum(map(len, images.values())) > 0, "no figure in the Chinese edition"
    failures = {page: [a for a in alts if not CJK.search(a)] for page, alts in images.items()}
    failures = {page: alts for page, alts in failures.items() if alts}
    assert not failures, f"figures whose alt text is not Chinese: {failures}"


def test_the_theme_speaks_chinese() -> None:
    page = BeautifulSoup((CHINESE_DIR / "book" / "intro.html").read_text("utf8"), "html.parser")
    assert page.html["lang"] == "zh-CN"
    labels = {e.get("aria-label") for e in page.find_all(attrs={"aria-label": True})}
    titles = {e.get("title") for e in page.find_all(attrs={"title": True})}
    assert "搜索" in labels | titles, sorted(filter(None, labels | titles))
    assert "下一页" in titles, sorted(filter(None, titles))
    switch = page.select_one("nav.vt-language-switch")
    assert switch is not None and switch.get("aria-label") == "语言"


def test_the_chinese_search_index_holds_chinese_words() -> None:
    text = (CHINESE_DIR / "searchindex.js").read_text("utf8")
    index = json.loads(text[text.index("(") + 1 : text.rindex(")")])
    terms = set(index["terms"])
    for word in ("残差", "归一化", "注意力", "残差连接", "层归一化", "多头注意力"):
        assert word in terms, f"{word!r} not in the Chinese search index"


def test_the_navigation_is_chinese() -> None:
    """The sidebar's part captions and page titles (sphinx-external-toc inserts the captions after
    Sphinx translates a page; the extension translates them)."""
    page = BeautifulSoup((CHINESE_DIR / "book" / "intro.html").read_text("utf8"), "html.parser")
    nav = page.select_one("nav.bd-docs-nav")
    assert nav is not None
    captions = [c.get_text(strip=True) for c in nav.select(".caption-text")]
    titles = [a.get_text(" ", strip=True) for a in nav.select("a")]
    assert captions and all(CJK.search(c) for c in captions), captions
    english = [t for t in titles if not CJK.search(t) and t != "Verified Transformer"]
    assert titles and not english, english


def _subtitle(title: str) -> str:
    """The exercise's own title inside "练习 6（title）" (full-width parentheses, which
    upstream_patches.ChineseExerciseTitleParentheses puts where sphinx-exercise writes ASCII)."""
    assert "（" in title and title.endswith("）"), f"not a Chinese exercise title: {title!r}"
    return title[title.find("（") + 1 : title.rfind("）")].strip()


def test_solutions_carry_the_translated_titles_of_their_exercises() -> None:
    """A solution's title repeats its exercise's title (sphinx-exercise copies the exercise
    before translation; the extension hands it the translated one)."""
    failures = {}
    for page in sorted((CHINESE_DIR / "notebooks").glob("*_exercises.html")):
        soup = BeautifulSoup(page.read_text("utf8"), "html.parser")
        exercises = [_subtitle(t.get_text(" ", strip=True))
                     for t in soup.select("div.exercise > p.admonition-title")]
        solutions = [_subtitle(t.get_text(" ", strip=True))
                     for t in soup.select("div.solution > p.admonition-title")]
        assert exercises and len(solutions) == len(exercises), page.name
        wrong = [s for s in solutions if s not in exercises or not CJK.search(s)]
        if wrong or not all(CJK.search(e) for e in exercises):
            failures[page.name] = wrong or exercises
    assert not failures, f"exercise or solution titles not in Chinese: {failures}"


def test_verdicts_are_chinese_sentences_without_a_space_between_chinese_characters(
    chinese_pages: dict[str, BeautifulSoup],
) -> None:
    """Every verdict sentence, on a chapter's badge or on the ledger page, is one Chinese
    sentence: it ends with 。, has no space between Chinese characters and no ； in a scope."""
    gap = re.compile(r"[\u4e00-\u9fff] [\u4e00-\u9fff]|[）：] ")
    sentences = [" ".join(li.get_text().split()) for body in chinese_pages.values()
                 for li in body.select("ul.vt-claim-verdict > li")]
    assert sentences, "no claim verdict in the Chinese edition"
    bad = [s for s in sentences if gap.search(s) or not s.endswith("。") or not CJK.search(s)
           or re.search(r"（范围：[^）]*；", s)]
    assert not bad, bad
    assert "book/claims_ledger.html" in chinese_pages, "the ledger page is not a content page"


def tagged_outputs(notebook: Path) -> list[tuple[str, str]]:
    """(language, text) of every output of ``notebook`` printed per language (``say``), in order;
    a figure's text is ``image``."""
    found = []
    for cell in json.loads(notebook.read_text("utf8"))["cells"]:
        for output in cell.get("outputs", []):
            language = output.get("metadata", {}).get("vt", {}).get("language")
            if language:
                data = output.get("data", {})
                text = "image" if "image/png" in data else "".join(data.get("text/plain", ""))
                found.append((language, text))
    return found


def output_texts(page: Path) -> tuple[str, set[str]]:
    """The text of a built page's cell outputs, and the images they show."""
    soup = BeautifulSoup(page.read_text("utf8"), "html.parser")
    outputs = soup.select(".cell_output")
    text = "\n".join(o.get_text() for o in outputs)
    images = {Path(img["src"]).name for o in outputs for img in o.find_all("img")}
    return text, images


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.stem)
def test_each_edition_shows_the_outputs_of_its_language(notebook: Path) -> None:
    """Every line printed per language appears in its own edition and not in the other one
    (where the two differ), and the figures of the two editions are different images."""
    page = f"notebooks/{notebook.stem}.html"
    (english, english_images), (chinese, chinese_images) = (
        output_texts(HTML_DIR / page), output_texts(CHINESE_DIR / page))
    outputs = tagged_outputs(notebook)
    assert outputs, f"{notebook.name} prints nothing per language (say / show_figure)"
    lines = {lang: [t for language, t in outputs if language == lang and t != "image"]
             for lang in ("en", "zh_CN")}
    for shown, hidden, text in ((lines["en"], lines["zh_CN"], english),
                                (lines["zh_CN"], lines["en"], chinese)):
        for mine, theirs in zip(shown, hidden, strict=True):
            assert " ".join(mine.split()) in " ".join(text.split()), f"{page}: missing {mine!r}"
            if theirs != mine:
                assert " ".join(theirs.split()) not in " ".join(text.split()), (
                    f"{page}: shows the other edition's {theirs!r}")
    figures = sum(t == "image" for language, t in outputs if language == "en")
    assert len(english_images) >= figures and not english_images & chinese_images, (
        f"{page}: the editions share figures {english_images & chinese_images}")


def test_chinese_citations_use_chinese_conjunctions() -> None:
    """"Xiong 等 [2020]", "Ba 和 Hinton": no "et al." or "and" in a Chinese page's citations, and
    two works of one first author and year are told apart (2016a, 2016b)."""
    citations = []
    for page in content_pages(CHINESE_DIR):
        soup = BeautifulSoup(page.read_text("utf8"), "html.parser")
        citations += [" ".join(c.get_text(" ").split()) for c in soup.select(".bibtex-citation")]
    assert any(" 等 " in c for c in citations), "no citation of three or more authors"
    english = [c for c in citations if "et al" in c or " and " in c]
    assert not english, f"citations in English style: {english[:5]}"
    years = {c for c in citations if c.startswith("He ")}
    assert {"He 等 [ 2016a ]", "He 等 [ 2016b ]"} <= years, years


def test_words_inside_formulas_are_chinese() -> None:
    """The words of a formula (Ba et al.'s Table 1 rows, "otherwise") read Chinese, while the
    English edition keeps them (sphinx/i18n.py ``MATH_WORDS``)."""
    from verified_transformer.sphinx.i18n import MATH_WORDS

    def texts(html_dir: Path) -> set[str]:
        found = set()
        for page in content_pages(html_dir):
            found |= set(re.findall(r"\\text\{([^{}]*)\}", page.read_text("utf8")))
        return found

    english, chinese = texts(HTML_DIR), texts(CHINESE_DIR)
    assert "otherwise" in english and "weight matrix re-scaling" in english
    assert not set(MATH_WORDS) & chinese, sorted(set(MATH_WORDS) & chinese)
    assert "其他情况" in chinese


@pytest.mark.parametrize("edition", ["en", "zh_CN"])
def test_a_downloaded_notebook_holds_the_outputs_of_its_edition(edition: str) -> None:
    """The .ipynb a page offers (``_sources/``) keeps its edition's printed lines and figures."""
    sources = (CHINESE_DIR if edition == "zh_CN" else HTML_DIR) / "_sources" / "notebooks"
    notebooks = sorted(sources.glob("*.ipynb"))
    assert len(notebooks) == len(list((ROOT / "notebooks").glob("*.ipynb")))
    for notebook in notebooks:
        languages = [language for language, _text in tagged_outputs(notebook)]
        assert languages and set(languages) == {edition}, (notebook.name, set(languages))
