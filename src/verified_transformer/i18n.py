"""What the code shows, in the reader's language: printed lines, figure text, exercise feedback.

A :class:`Message` is an English sentence with ``{placeholders}`` and their values. It *is* its
English text (a ``str``), and :meth:`Message.text` gives it in any edition's language from the
catalog ``locales/<language>/LC_MESSAGES/verified_transformer.po``, the one the Sphinx extension
translates the ledger's verdicts with. A value that is itself a :class:`Message` is translated
too, so a sentence can take a translated name (``tr("{variant}: {verdict}", variant=tr(name),
verdict=tr("learned the task"))``). Plurals go through :func:`ntr` (``ngettext``'s rule).

The notebooks print through :func:`verified_transformer.notebook.say` and show figures through
:func:`verified_transformer.notebook.show_figure`, which produce one output per language of
:func:`languages`; each edition of the book keeps its own (``sphinx/notebook_outputs.py``).
"""

from __future__ import annotations

import functools
import os
import re
import string
import unicodedata
from pathlib import Path
from typing import Any

#: The editions' languages (the Sphinx ``language`` of each), English first.
LANGUAGES = ("en", "zh_CN")
CATALOG = "verified_transformer"
LOCALES = Path(__file__).resolve().parents[2] / "locales"
#: Choose one language for the notebooks' outputs (a reader running a notebook: ``zh_CN``);
#: unset, they show every language of :data:`LANGUAGES` whose catalog is there, as stored.
LANGUAGE_VARIABLE = "VT_LANGUAGE"


class Untranslated(LookupError):
    """A message that the language's catalog does not translate."""


@functools.cache
def catalog(language: str) -> dict[Any, Any]:
    """The translated messages of ``language``: msgid → msgstr, (singular, plural) → [forms].
    Fuzzy and empty entries are left out (they are not translations yet)."""
    if language not in LANGUAGES:
        raise ValueError(f"language: {language!r} is not one of {LANGUAGES}")
    path = LOCALES / language / "LC_MESSAGES" / f"{CATALOG}.po"
    if language == "en" or not path.is_file():
        return {}
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        po = read_po(f)
    table: dict[Any, Any] = {}
    for m in po:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, tuple):
            if all(m.string):
                table[m.id] = list(m.string)
        elif m.string:
            table[m.id] = m.string
    return table


def languages() -> tuple[str, ...]:
    """The languages the notebooks print in: :data:`LANGUAGE_VARIABLE`'s, or every language
    whose catalog exists (English always)."""
    chosen = os.environ.get(LANGUAGE_VARIABLE)
    if chosen:
        if chosen not in LANGUAGES:
            raise ValueError(f"{LANGUAGE_VARIABLE}={chosen!r} is not one of {LANGUAGES}")
        return (chosen,)
    return tuple(
        lang for lang in LANGUAGES
        if lang == "en" or (LOCALES / lang / "LC_MESSAGES" / f"{CATALOG}.po").is_file()
    )


# English text → the Message that made it, so that a figure label set from a Message (matplotlib
# keeps the plain string) is translated with its values
_MADE: dict[str, Message] = {}


class Message(str):
    """``msgid.format(**values)`` in English; :meth:`text` in another language."""

    msgid: str
    plural: str | None
    n: int | None
    values: dict[str, Any]

    def __new__(cls, msgid: str, values: dict[str, Any] | None = None, plural: str | None = None,
                n: int | None = None) -> Message:
        if not isinstance(msgid, str) or not msgid:
            raise TypeError(f"msgid must be a non-empty str, got {msgid!r}")
        if (plural is None) != (n is None):
            raise TypeError("plural and n go together (ntr)")
        values = dict(values or {})
        template = msgid if plural is None or n == 1 else plural
        self = super().__new__(cls, _format(template, values, "en"))
        self.msgid, self.plural, self.n, self.values = str(msgid), plural, n, values
        _MADE.setdefault(str.__str__(self), self)
        return self

    def text(self, language: str, missing: list[str] | None = None) -> str:
        """This message in ``language``. An entry that the catalog lacks raises
        :class:`Untranslated`, or, when ``missing`` is a list, is shown in English and its msgid
        appended to ``missing``."""
        if language == "en":
            return str.__str__(self)
        if self.plural is None and not needs_translation(self.msgid):
            # nothing to translate: "[F(H) H]: {rows} x {cols}"; its separators follow the
            # language where its values are Chinese ("{statement}: {value}")
            text = _format(self.msgid, self.values, language, missing)
            if _CJK.search(text) and language in _SEPARATORS:
                text = _format(_SEPARATORS[language](self.msgid), self.values, language, missing)
                text = text.replace(" （", "（")  # a value that opens with a full-width bracket
            return text
        table = catalog(language)
        key = self.msgid if self.plural is None else (self.msgid, self.plural)
        found = table.get(key)
        if found is None:
            if missing is None:
                raise Untranslated(f"{language}: no translation of {self.msgid!r} in "
                                   f"{LOCALES / language / 'LC_MESSAGES' / CATALOG}.po")
            missing.append(self.msgid)
            return str.__str__(self)
        if self.plural is not None:
            found = found[0]  # one form in Chinese (Plural-Forms: nplurals=1)
        return _format(found, self.values, language, missing)

    def msgids(self) -> list[Any]:
        """Its catalog key and those of the Messages among its values (for the template)."""
        keys: list[Any] = [self.msgid if self.plural is None else (self.msgid, self.plural)]
        for value in self.values.values():
            if isinstance(value, Message):
                keys += value.msgids()
        return keys

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.msgid, self.plural, self.n, self.values))


def _rebuild(msgid: str, plural: str | None, n: int | None, values: dict[str, Any]) -> Message:
    return Message(msgid, values, plural, n)


# a yes/no value in a translated line (English shows Python's True/False)
_BOOLEANS = {"zh_CN": {True: "是", False: "否"}}


def _format(template: str, values: dict[str, Any], language: str,
            missing: list[str] | None = None) -> str:
    if not values:  # a message without values is shown as written (braces of LaTeX included)
        return template
    words = _BOOLEANS.get(language, {})
    shown = {k: v.text(language, missing) if isinstance(v, Message)
             else words.get(v, v) if isinstance(v, bool) else v
             for k, v in values.items()}
    return _WIDTH_AWARE.vformat(template, (), shown)


class _WidthAwareFormatter(string.Formatter):
    """``str.format``, but a width pads text by its display width: a Chinese character takes two
    columns, so a table row with a Chinese label stays aligned."""

    def format_field(self, value: Any, format_spec: str) -> str:
        text = super().format_field(value, format_spec)
        spec = _SPEC.fullmatch(format_spec)
        if not isinstance(value, str) or spec is None or not spec["width"]:
            return text
        extra = sum(unicodedata.east_asian_width(ch) in "WF" for ch in str(value))
        if not extra:
            return text
        body = super().format_field(value, format_spec.replace(spec["width"], "", 1))
        fill, missing = spec["fill"] or " ", max(int(spec["width"]) - len(body) - extra, 0)
        left = {">": missing, "^": missing // 2}.get(spec["align"] or "<", 0)
        return fill * left + body + fill * (missing - left)


def _chinese_separators(template: str) -> str:
    """A template's own ``: `` and ``; `` between placeholders as ``：`` and ``；``."""
    parts = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        literal = literal.replace("{", "{{").replace("}", "}}")
        literal = re.sub(r":(?= |\n|$)", "：", literal.replace("; ", "；"))
        parts.append(literal.replace("： ", "："))
        if field is not None:
            parts.append("{" + field + (f"!{conversion}" if conversion else "")
                         + (f":{spec}" if spec else "") + "}")
    return "".join(parts)


_WIDTH_AWARE = _WidthAwareFormatter()
_SPEC = re.compile(r"(?:(?P<fill>.)(?=[<>^]))?(?P<align>[<>^])?(?P<width>\d+)?s?")
_CJK = re.compile(r"[\u3400-\u9fff]")
_SEPARATORS = {"zh_CN": _chinese_separators}


class Verbatim(str):
    """A value shown as it is in every language, and left out of the English-words check of a
    translated line: data such as the date translator's German input (``say("input: {s}",
    s=Verbatim(source))``)."""


def tr(msgid: str, /, **values: Any) -> Message:
    """A message to show in the reader's language: ``tr("{n} layers", n=12)``."""
    return Message(msgid, values)


def ntr(singular: str, plural: str, n: int, /, **values: Any) -> Message:
    """A message with a singular and a plural (``n`` is also a value of the template)."""
    return Message(singular, {"n": n, **values}, plural, n)


def made(text: str) -> Message:
    """The Message whose English text is ``text`` (a figure label), else ``tr(text)``."""
    found = _MADE.get(text)
    return found if found is not None else Message(text)


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_MATH = re.compile(r"\$[^$]*\$")
_PROSE = re.compile(r"\b[a-z]{2,}\s+[a-z]{2,}\b")
_WORD = re.compile(r"[A-Za-z]{3,}")


def english_prose(text: str) -> list[str]:
    """Runs of English words in ``text`` outside ``$math$`` (two lowercase words in a row):
    what a Chinese output must not contain."""
    return _PROSE.findall(_MATH.sub("", text))


def has_words(text: str) -> bool:
    """Whether a figure text has a word (three letters or more) outside ``$math$``: such a text
    needs a catalog entry, even one that keeps it (a name such as ``Post-LN``)."""
    return bool(_WORD.search(_MATH.sub("", text)))


def needs_translation(msgid: str) -> bool:
    """Whether a message has words besides its placeholders (``{name:8s}{counts}`` has none:
    it is shown as it is in every language and needs no catalog entry)."""
    return has_words(_PLACEHOLDER.sub("", msgid))


__all__ = ["LANGUAGES", "LANGUAGE_VARIABLE", "Message", "Untranslated", "Verbatim", "catalog",
           "english_prose", "has_words", "languages", "made", "needs_translation", "ntr", "tr"]
