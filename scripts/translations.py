r"""The Chinese edition's message catalogs: update them after an English edit, and check them.

    python scripts/translations.py update        # make translations
    python scripts/translations.py check [PO ...]

``update`` extracts every message of the book (``scripts/build_edition.py gettext``: pages and the
notebooks' markdown cells) and of the ``verified_transformer`` Sphinx extension (verdict lines,
claim scopes) into ``_build/gettext/*.pot``, merges them into ``locales/zh_CN/LC_MESSAGES/`` with
``sphinx-intl update`` (a new message gets an empty entry, a changed one a *fuzzy* entry holding the
old translation), writes the glossary's Chinese terms (as the Chinese edition shows them, with
d2l-zh's synonyms) to ``locales/zh_CN/search_terms.txt`` (the Chinese search's dictionary), then
runs ``check``.

``check`` lists every entry that needs work, one line each (``file:line: problem: message``):

- untranslated (empty) or fuzzy;
- markup that the translation must keep but does not: inline code, inline math, the target of a
  role (``{ref}`title <target>``` keeps ``target``, ``{cite:p}`key``` keeps ``key``) and of a link;
- a translation starting ``5. `` (MyST reads a numbered list item, so a chapter title would not
  be translated): it must start ``5\. ``;
- English prose left in the translation (three or more English words and no Chinese character),
  unless a translator comment says ``kept in English`` (the English terms of the glossary).

A message that is not prose (an identifier, a number, code) is "translated" by copying it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANGUAGE = "zh_CN"
CATALOGS = ROOT / "locales" / LANGUAGE / "LC_MESSAGES"
POT = ROOT / "_build" / "gettext"
EXTENSION_CATALOG = "verified_transformer"
GLOSSARY = ROOT / "book" / "appendix_glossary.md"
# Chinese search: jieba splits the pages' text into words, and this dictionary makes the
# glossary's terms (残差连接, 层归一化, ...) words of their own, so searching for one finds it.
SEARCH_TERMS = ROOT / "locales" / LANGUAGE / "search_terms.txt"

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
MATH = re.compile(r"\$\$.+?\$\$|\$[^$\s](?:[^$]*[^$\s])?\$")
ROLE = re.compile(r"\{(?P<name>[a-z][\w:-]*)\}`(?P<body>[^`]*)`")
CODE = re.compile(r"``(?P<dbl>.+?)``|`(?P<code>[^`]+)`")
# Read left to right, as MyST does: a brace inside inline code (`\mathrm{softmax}`) is no role.
ROLE_OR_CODE = re.compile(f"{ROLE.pattern}|{CODE.pattern}")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
WORD = re.compile(r"\b[A-Za-z][a-z]+\b")


@dataclass(frozen=True)
class Problem:
    """One catalog entry that needs work."""

    path: Path
    line: int
    what: str
    message: str

    def __str__(self) -> str:
        shown = " ".join(self.message.split())
        shown = shown if len(shown) <= 90 else shown[:87] + "..."
        try:
            where = self.path.relative_to(ROOT)
        except ValueError:
            where = self.path
        return f"{where}:{self.line}: {self.what}: {shown}"


def role_target(name: str, body: str) -> str:
    """What a role points at: ``target`` in ``title <target>``, else the whole body."""
    match = re.fullmatch(r"(?s)(?P<title>.*?)\s*<(?P<target>[^<>]+)>", body)
    return f"{{{name}}}{match['target'] if match else body}"


def markup(text: str) -> Counter[str]:
    """The parts of a MyST message a translation must keep unchanged, counted."""
    kept: Counter[str] = Counter()
    for m in MATH.finditer(text):
        kept["math " + m.group()] += 1
    text = MATH.sub(" ", text)
    for m in ROLE_OR_CODE.finditer(text):
        if m["name"]:
            kept["role " + role_target(m["name"], m["body"])] += 1
        else:
            kept["code " + (m["dbl"] or m["code"])] += 1
    for m in LINK.finditer(text):
        kept["link " + m["target"]] += 1
    return kept


def prose_words(text: str) -> list[str]:
    """English words of ``text`` outside math, roles, code and link targets."""
    for pattern in (MATH, ROLE_OR_CODE, LINK):
        text = pattern.sub(" ", text)
    return WORD.findall(text)


KEPT_IN_ENGLISH = "kept in English"


def entry_problems(msgid: str, msgstr: str, fuzzy: bool, kept_english: bool = False) -> list[str]:
    """What is wrong with one translation (empty when nothing is)."""
    if not msgstr:
        return ["untranslated"]
    problems = []
    if fuzzy:
        problems.append("fuzzy (check the translation against the new English, then drop the flag)")
    missing = markup(msgid) - markup(msgstr)
    extra = markup(msgstr) - markup(msgid)
    if missing:
        problems.append("markup changed: lost " + ", ".join(sorted(missing)))
    if extra:
        problems.append("markup changed: added " + ", ".join(sorted(extra)))
    if re.match(r"\d+[.)] ", msgstr):
        problems.append("starts like a numbered list item, which MyST would make of it: escape "
                        "the dot (`5\\. ...`)")
    english = len(prose_words(msgstr)) >= 3 and len(prose_words(msgid)) >= 3
    if english and not CJK.search(msgstr) and not kept_english:
        problems.append("English prose left in the translation")
    return problems


def check(paths: list[Path]) -> list[Problem]:
    """Every problem of the catalogs ``paths`` (obsolete entries are ignored)."""
    from babel.messages.pofile import read_po

    problems = []
    for path in paths:
        with path.open("rb") as f:
            catalog = read_po(f, abort_invalid=True)
        for message in catalog:
            if not message.id:
                continue
            line = message.lineno or 0
            kept = any(KEPT_IN_ENGLISH in c for c in message.user_comments)
            # a plural entry (ngettext): its plural message against each of its forms
            msgid = message.id if isinstance(message.id, str) else message.id[-1]
            forms = message.string if isinstance(message.string, tuple) else (message.string,)
            for msgstr in forms:
                for what in entry_problems(msgid, msgstr or "", message.fuzzy, kept):
                    problems.append(Problem(path, line, what, msgid))
    return problems


def catalogs() -> list[Path]:
    """The Chinese edition's catalogs, one per page plus the extension's."""
    return sorted(CATALOGS.rglob("*.po"))


def write_extension_template() -> Path:
    """``_build/gettext/verified_transformer.pot``: the extension's and the ledger's strings."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    from verified_transformer.sphinx import catalog_messages

    template = Catalog(project="verified-transformer", fuzzy=False)
    for message in catalog_messages():
        template.add(message)
    POT.mkdir(parents=True, exist_ok=True)
    path = POT / f"{EXTENSION_CATALOG}.pot"
    with path.open("wb") as f:
        write_po(f, template, omit_header=False, width=0)
    return path


def glossary_column() -> list[str]:
    """The glossary's Chinese column as the Chinese edition shows it, one cell per row.

    The English page's first column holds the article's terms; the Chinese edition translates
    each cell (``book/appendix_glossary.po``) into the term its chapters use, followed by the
    synonyms of d2l-zh (marked ``（d2l-zh）``). An untranslated cell is shown as written.
    """
    from babel.messages.pofile import read_po

    with (CATALOGS / "book" / "appendix_glossary.po").open("rb") as f:
        shown = {m.id: m.string for m in read_po(f) if m.id and m.string}
    cells = []
    for line in GLOSSARY.read_text("utf8").splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cell = line.split("|")[1].strip()
        if cell != "中文":
            cells.append(shown.get(cell, cell))
    return cells


def glossary_terms() -> list[str]:
    """The Chinese terms of the glossary's first column in the Chinese edition, d2l-zh's
    synonyms included (``多头注意力机制`` also as 多头注意力)."""
    terms = []
    for cell in glossary_column():
        for part in re.split(r"\s*/\s*|、|（|）|\s+", cell):
            if re.fullmatch(r"[\u4e00-\u9fff]{2,}", part) and part != "中文":
                terms += [part, part.removesuffix("机制")] if part.endswith("机制") else [part]
    return list(dict.fromkeys(terms))


def search_terms_text() -> str:
    """The jieba user dictionary: one term per line, with a frequency that keeps it whole."""
    return "".join(f"{term} 100000 n\n" for term in glossary_terms())


def update() -> int:
    """Extract, merge with sphinx-intl, check (the exit status is 1 when entries need work)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_edition import build

    if build("gettext"):
        return 1
    write_extension_template()
    SEARCH_TERMS.write_text(search_terms_text(), "utf8")
    sphinx_intl = Path(sys.executable).with_name("sphinx-intl")
    subprocess.run(
        [str(sphinx_intl), "update", "-p", str(POT), "-l", LANGUAGE, "-d", str(ROOT / "locales"),
         "-w", "0"],
        check=True,
    )
    return report(check(catalogs()))


def report(problems: list[Problem]) -> int:
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} entries of the Chinese catalogs need work (edit the .po files "
              "above, then `make book`)")
        return 1
    print(f"the Chinese catalogs are complete ({len(catalogs())} files)")
    return 0


if __name__ == "__main__":
    command, *rest = sys.argv[1:] or ["check"]
    if command == "update":
        sys.exit(update())
    if command == "check":
        sys.exit(report(check([Path(p).resolve() for p in rest] or catalogs())))
    sys.exit("usage: translations.py update | check [PO ...]")
