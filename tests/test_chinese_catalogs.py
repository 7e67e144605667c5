"""The Chinese edition's catalogs (locales/zh_CN/LC_MESSAGES) and the extension parts that use them.

The catalogs must be complete (no empty or fuzzy entry, markup kept), cover every page and every
string the Sphinx extension writes; a translated build warns for any message that has no
translation. The edition switch's URLs are relative, so they work from disk and over HTTP.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from sphinx import locale
from sphinx.application import Sphinx
from sphinx.util.docutils import docutils_namespace

from verified_transformer.sphinx import catalog_messages, editions

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("translations", ROOT / "scripts" / "translations.py")
translations = importlib.util.module_from_spec(_spec)
sys.modules["translations"] = translations  # its dataclass looks its module up
_spec.loader.exec_module(translations)


def toc_pages() -> list[str]:
    """Every page of the table of contents, as a docname (``book/intro``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text("utf8"))
    pages = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            pages.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc["parts"]:
        walk(part["chapters"])
    return pages


def test_every_page_has_a_chinese_catalog() -> None:
    missing = [p for p in toc_pages() if not (translations.CATALOGS / f"{p}.po").is_file()]
    assert not missing, f"pages without a catalog (run `make translations`): {missing}"


def test_the_chinese_catalogs_are_complete() -> None:
    problems = translations.check(translations.catalogs())
    if problems:
        listing = "\n".join(str(p) for p in problems[:60])
        more = f"\n... and {len(problems) - 60} more" if len(problems) > 60 else ""
        pytest.fail(
            f"{len(problems)} entries of the Chinese catalogs need work; run `make translations` "
            f"after an English edit, then translate these entries:\n{listing}{more}",
            pytrace=False,
        )


def test_the_extension_catalog_holds_every_string_the_extension_writes() -> None:
    path = translations.CATALOGS / f"{translations.EXTENSION_CATALOG}.po"
    with path.open("rb") as f:
        held = {m.id for m in read_po(f) if m.id}
    missing = [m for m in catalog_messages() if m not in held]
    assert not missing, f"not in {path.name} (run `make translations`): {missing}"


def test_the_chinese_search_dictionary_holds_the_glossary_terms() -> None:
    assert translations.SEARCH_TERMS.read_text("utf8") == translations.search_terms_text(), (
        "locales/zh_CN/search_terms.txt is not the glossary's terms: run `make translations`")
    terms = set(translations.glossary_terms())
    assert {"残差连接", "层归一化", "多头注意力", *D2L_SYNONYMS} <= terms


@pytest.mark.parametrize(
    ("msgid", "msgstr", "fuzzy", "problem"),
    [
        ("The mean of $x$.", "", False, "untranslated"),
        ("The mean of $x$.", "$x$ 的均值。", True, "fuzzy"),
        ("The mean of $x$.", "$y$ 的均值。", False, "lost math $x$"),
        ("See {ref}`ch2-layernorm`.", "见 {ref}`ch2-residual`。", False,
         "lost role {ref}ch2-layernorm"),
        ("See [the FAQ](faq.md).", "见[常见问题](errata.md)。", False, "lost link faq.md"),
        ("Call `layer_norm` here.", "在此调用 `layer-norm`。", False, "lost code layer_norm"),
        ("The mean is a statistic.", "The mean is a statistic.", False, "English prose left"),
        ("5. Code in practice", "5. 代码实践", False, "numbered list item"),
    ],
)
def test_the_catalog_check_finds(msgid: str, msgstr: str, fuzzy: bool, problem: str) -> None:
    found = " | ".join(translations.entry_problems(msgid, msgstr, fuzzy))
    assert problem in found, found


def test_the_catalog_check_accepts_a_faithful_translation() -> None:
    msgid = ("**LayerNorm** acts on $x \\in \\mathbb{R}^n$ ({ref}`4.3 <ch4c-definition>`, "
             "{cite:p}`ba2016layer`; see `torch.nn.LayerNorm` and [the ledger](claims_ledger.md)).")
    msgstr = ("**LayerNorm** 作用于 $x \\in \\mathbb{R}^n$（{ref}`第 4.3 节 <ch4c-definition>`，"
              "{cite:p}`ba2016layer`；见 `torch.nn.LayerNorm` 与[论断清单](claims_ledger.md)）。")
    assert translations.entry_problems(msgid, msgstr, False) == []
    assert translations.entry_problems("torch.nn.LayerNorm", "torch.nn.LayerNorm", False) == []
    assert translations.entry_problems("5. Code in practice", "5\\. 代码实践", False) == []
    # a brace inside code is no role: `\mathrm{softmax}` then `K^\top`
    code = "Use `\\mathrm{softmax}` taken row by row, and `K^\\top`."
    translated = "按行使用 `\\mathrm{softmax}`，并使用 `K^\\top`。"
    assert translations.entry_problems(code, translated, False) == []
    # a role right after a Chinese character is still a role (MyST reads it so)
    assert translations.entry_problems("See {doc}`chapter 5 <05>`.", "见{doc}`第 5 章 <05>`。",
                                       False) == []
    term = "multi-head attention"
    left = ["English prose left in the translation"]
    assert translations.entry_problems(term, term, False) == left
    assert translations.entry_problems(term, term, False, kept_english=True) == []


def test_the_catalog_check_reads_po_files(tmp_path: Path) -> None:
    catalog = Catalog(locale="zh_CN")
    catalog.add("Residual connection", "残差连接")
    catalog.add("Layer normalization", "")
    catalog.add("Softmax of the scores", "分数的 softmax", flags=["fuzzy"])
    path = tmp_path / "page.po"
    with path.open("wb") as f:
        write_po(f, catalog)
    found = {(p.message, p.what.split(" ")[0]) for p in translations.check([path])}
    assert found == {("Layer normalization", "untranslated"), ("Softmax of the scores", "fuzzy")}


def test_a_translated_build_warns_for_a_message_without_translation(tmp_path: Path) -> None:
    """A page of a tiny project, in Chinese, with one paragraph translated and one not."""
    src = tmp_path / "src"
    (src / "locales" / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    (src / "conf.py").write_text(textwrap.dedent("""
        extensions = ["verified_transformer.sphinx"]
        html_theme = "sphinx_book_theme"
        language = "zh_CN"
        locale_dirs = ["locales/"]
        gettext_compact = False
    """))
    (src / "index.rst").write_text("Title\n=====\n\nResidual connections.\n\nA new sentence.\n")
    catalog = Catalog(locale="zh_CN")
    catalog.add("Title", "标题")
    catalog.add("Residual connections.", "残差连接。")
    with (src / "locales" / "zh_CN" / "LC_MESSAGES" / "index.po").open("wb") as f:
        write_po(f, catalog)
    warnings = tmp_path / "warnings.txt"
    try:
        with warnings.open("w") as stream, docutils_namespace():
            app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"),
                         "html", status=None, warning=stream, freshenv=True)
            app.build()
    finally:  # the Chinese catalog stays loaded in this process otherwise
        locale.translators.pop(("general", "verified_transformer"), None)
    text = warnings.read_text()
    assert "untranslated message in locales/zh_CN/LC_MESSAGES/index.po" in text, text
    assert "make translations" in text and "A new sentence." in text
    assert "Residual connections." not in text
    html = (tmp_path / "out" / "index.html").read_text("utf8")
    assert "残差连接。" in html
    assert 'class="vt-language-switch"' in html and 'href="../index.html"' in html


@pytest.mark.parametrize(
    ("pagename", "language", "english", "chinese"),
    [
        ("notebooks/02_core_concepts", "en", "../notebooks/02_core_concepts.html",
         "../zh_CN/notebooks/02_core_concepts.html"),
        ("notebooks/02_core_concepts", "zh_CN", "../../notebooks/02_core_concepts.html",
         "../../zh_CN/notebooks/02_core_concepts.html"),
        ("search", "en", "search.html", "zh_CN/search.html"),
        ("search", "zh_CN", "../search.html", "../zh_CN/search.html"),
    ],
)
def test_the_language_switch_links_the_same_page(
    pagename: str, language: str, english: str, chinese: str
) -> None:
    entries = {e["language"]: e for e in editions.links(pagename, language)}
    assert entries["en"]["href"] == english and entries["zh_CN"]["href"] == chinese
    assert [e["language"] for e in entries.values() if e["current"]] == [language]


def test_an_unknown_edition_is_an_error() -> None:
    with pytest.raises(ValueError, match="no edition for language 'fr'"):
        editions.links("book/intro", "fr")


# One term per concept (the Chinese edition's terminology). Each rejected variant (a regular
# expression) -> the term the chapters use instead, and why. The English source is not checked.
REJECTED_TERMS: dict[str, tuple[str, str]] = {
    "丢弃": ("dropout", "reads as 'discard'; dropout is kept, with d2l-zh's 暂退法 once"),
    "随机失活": ("dropout", "a third name for dropout that the chapters never used"),
    "预归一化": ("Pre-LN", "sounds like preprocessing the input; glossed once as 前置 LN"),
    "(?<![之以然])后归一化": ("Post-LN", "sounds like post-processing; glossed once as 后置 LN"),
    "挡不住": ("屏蔽不了任何位置", "one phrase for a mask that blocks nothing"),
    "遮蔽不了": ("屏蔽不了任何位置", "one phrase for a mask that blocks nothing"),
    "什么也屏蔽不了": ("屏蔽不了任何位置", "one phrase for a mask that blocks nothing"),
    "什么也不屏蔽": ("屏蔽不了任何位置", "one phrase for a mask that blocks nothing"),
    "跳跃连接": ("捷径（连接）", "one word for shortcut / skip connection, He et al.'s shortcut"),
    "跳跃路径": ("捷径", "one word for shortcut / skip path"),
    "恒等矩阵": ("单位矩阵", "the name of I in Chinese linear algebra"),
    "(融合|torch 的|PyTorch 的)内核": ("融合算子 / 算子", "reads as an operating-system kernel"),
    "小批次": ("小批量", "d2l-zh's term for a minibatch"),
    "奈特": ("nat", "the unit is written nat, as in the formulas"),
    "缩放参数": ("增益", "the chapters call gamma 增益 (gain)"),
    "偏移参数": ("偏置", "the chapters call beta 偏置 (bias), as torch's `bias`"),
    "运行统计量": ("滑动平均", "the chapters' word for BatchNorm's running statistics"),
    "滑动统计量": ("滑动平均", "the chapters' word for BatchNorm's running statistics"),
    "深度归一化": ("DeepNorm", "a method's name, kept as its authors wrote it"),
    "变换器": ("Transformer", "no practitioner says it"),
    "批量归一化|批标准化": ("批归一化 / BatchNorm", "one Chinese name, beside 层归一化"),
    "one-hot": ("独热", "the prose's one word for a distribution with all its mass on one entry"),
    "账本": ("论断清单", "the ledger's one Chinese name, as its page title says"),
    "批量大小|批大小": ("批次大小", "one word for batch size, beside 批次 for the batch dimension"),
}

# The glossary's rows whose Chinese cell was settled with the chapters: the article's term (the
# cell of the English page, the msgid) -> the term the Chinese edition shows first (the msgstr).
GLOSSARY_CHOICES = {
    "变换器 / Transformer": "Transformer",
    "丢弃 / 随机失活": "dropout",
    "后归一化": "Post-LN",
    "预归一化": "Pre-LN",
    "缩放参数 / 偏移参数": "增益",
    "运行统计量": "滑动平均",
    "深度归一化": "DeepNorm",
    "层归一化": "层归一化",
    "批归一化": "批归一化",
    "前馈网络（逐位置）": "前馈网络",
    "均方根归一化": "RMSNorm",
    "归一化指数函数": "softmax",
}

D2L_SYNONYMS = {"层规范化", "批量规范化", "暂退法", "基于位置的前馈网络"}
GLOSSARY_PO = translations.CATALOGS / "book" / "appendix_glossary.po"


def translated_messages(skip_glossary: bool = False) -> list[tuple[Path, int, str]]:
    """Every msgstr of the Chinese catalogs (obsolete entries aside): (path, line, text)."""
    found = []
    for path in translations.catalogs():
        if skip_glossary and path == GLOSSARY_PO:
            continue
        with path.open("rb") as f:
            for m in read_po(f):
                if m.id:
                    forms = m.string if isinstance(m.string, tuple) else (m.string,)
                    found += [(path, m.lineno, s) for s in forms if s]
    return found


def test_the_catalogs_use_one_term_per_concept() -> None:
    wrong = []
    for path, line, text in translated_messages():
        where = f"{path.relative_to(ROOT)}:{line}"
        for variant, (chosen, why) in REJECTED_TERMS.items():
            for m in re.finditer(variant, text):
                wrong.append(f"{where}: {m.group()!r} -> {chosen!r} ({why})")
        if "BatchNorm" in text and "批归一化" in text:
            wrong.append(f"{where}: BatchNorm and 批归一化 in one paragraph (choose one)")
    assert not wrong, "terms the Chinese edition does not use:\n" + "\n".join(wrong)


def test_dropout_and_the_ln_placements_are_glossed_once() -> None:
    chapters = translated_messages(skip_glossary=True)
    for gloss in ("暂退法", "前置 LN", "后置 LN"):
        uses = [f"{p.relative_to(ROOT)}:{line}" for p, line, text in chapters if gloss in text]
        assert len(uses) == 1, f"{gloss} glossed {len(uses)} times outside the glossary: {uses}"


def glossary_cells() -> dict[str, str]:
    with GLOSSARY_PO.open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def test_the_glossary_shows_the_chapters_terms() -> None:
    cells = glossary_cells()
    for article_term, chosen in GLOSSARY_CHOICES.items():
        assert cells[article_term].startswith(chosen), (article_term, cells[article_term], chosen)
    chapters = "\n".join(text for _, _, text in translated_messages(skip_glossary=True))
    unused = []
    for cell in translations.glossary_column():
        # "层归一化 / 层规范化（d2l-zh）": the book's term, then d2l-zh's synonym (not used)
        for segment in re.split(r"\s*/\s*(?![^（]*）)", cell):
            if "（d2l-zh）" in segment:
                continue
            for term in re.split(r"、", re.sub(r"（[^）]*）", "", segment)):
                if term.strip() and term.strip() not in chapters:
                    unused.append(f"{term.strip()} (glossary cell {cell!r})")
    assert not unused, "glossary terms that no chapter uses:\n" + "\n".join(unused)


def test_the_glossary_and_the_search_find_d2l_zh_terms() -> None:
    terms = set(translations.glossary_terms())
    assert D2L_SYNONYMS <= terms, D2L_SYNONYMS - terms
    rejected = {t for t in terms if any(re.search(v, t) for v in REJECTED_TERMS)}
    assert not rejected, f"rejected variants in the search dictionary: {rejected}"


def source_title(page: str) -> str:
    """The English title of a page: its first ``# `` heading (a notebook's first markdown cell)."""
    path = ROOT / f"{page}.md"
    if path.is_file():
        lines = path.read_text("utf8").splitlines()
    else:
        nb = json.loads((ROOT / f"{page}.ipynb").read_text("utf8"))
        lines = "".join(next(c for c in nb["cells"] if c["cell_type"] == "markdown")["source"])
        lines = lines.splitlines()
    return next(line[2:] for line in lines if line.startswith("# "))


def chinese_title(page: str) -> str:
    with (translations.CATALOGS / f"{page}.po").open("rb") as f:
        return read_po(f)[source_title(page)].string


ARTICLE_HEADING = re.compile(r"\(([^()]*[\u4e00-\u9fff][^()]*)\)\s*$")


@pytest.mark.parametrize("page", toc_pages()[1:])
def test_a_chinese_title_is_the_books_own_with_the_article_heading_as_original(page: str) -> None:
    """``4\\. 数学推导（原文：数学模型和公式详细讲解举例说明）``: the book's own title in Chinese,
    then the article's heading marked 原文 where the English title carries one; no part of the
    article's heading (``数学模型和公式详细讲解举例说明 · 残差连接``) twice."""
    english, chinese = source_title(page), chinese_title(page)
    heading = ARTICLE_HEADING.search(english)
    if heading is None or english.startswith("Appendix: Glossary"):
        assert "原文：" not in chinese, chinese  # 附录：术语表 translates "Glossary (术语表)"
        return
    own, marker, original = chinese.partition("（原文：")
    assert marker and original.endswith("）"), f"{chinese!r} does not end （原文：...）"
    assert re.search(r"[\u4e00-\u9fff]", own), f"{chinese!r}: no Chinese title of the book's own"
    # the article's "附录：常见问题与解答" under the book's 附录：常见问题: one 附录 is enough
    for part in re.split(r"\s*·\s*", heading[1].removeprefix("附录：")):
        assert chinese.count(part) == 1, f"{chinese!r} holds {part!r} {chinese.count(part)} times"


def test_the_book_title_has_a_chinese_subtitle() -> None:
    title = chinese_title(toc_pages()[0])
    assert title.startswith(source_title(toc_pages()[0]) + "：") and CJK_CHAR.search(title), title


CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")


def test_the_chinese_edition_shows_the_translated_book_title() -> None:
    """``html_title`` (the sidebar's brand, every page's ``<title>``) is the root page's title."""
    from types import SimpleNamespace

    config = SimpleNamespace(language="zh_CN", html_title="Verified Transformer",
                             locale_dirs=["locales/"], master_doc="book/intro", root_doc="index")
    editions._translate_book_title(SimpleNamespace(srcdir=str(ROOT)), config)
    assert config.html_title == chinese_title("book/intro")
    english = SimpleNamespace(**{**vars(config), "language": "en", "html_title": "Verified"})
    editions._translate_book_title(SimpleNamespace(srcdir=str(ROOT)), english)
    assert english.html_title == "Verified"
