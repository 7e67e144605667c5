"""Messages in the reader's language (verified_transformer.i18n), and what the stored notebooks
hold for each edition (outputs per language, chosen by sphinx/notebook_outputs.py)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from verified_transformer import i18n
from verified_transformer.i18n import Message, Untranslated, Verbatim, ntr, tr
from verified_transformer.sphinx.notebook_outputs import outputs_for

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ZH = "zh_CN"


def test_a_message_is_its_english_text_and_translates_with_its_values() -> None:
    message = tr("L={depth:2d}  plain {plain:.2e}  residual {residual:.2e}", depth=4,
                 plain=0.317, residual=1.7)
    assert message == "L= 4  plain 3.17e-01  residual 1.70e+00"
    assert message.text("en") == message
    assert message.text(ZH) == "L= 4  无残差 3.17e-01  有残差 1.70e+00"


def test_values_that_are_messages_are_translated_and_booleans_read_yes_or_no() -> None:
    inner = tr("number of paths")
    outer = tr("{n} terms = 2^3; identity path present: {present}", n=inner, present=True)
    assert outer.text(ZH) == "路径数 项 = 2^3；含恒等路径：是"
    assert outer.msgids() == ["{n} terms = 2^3; identity path present: {present}",
                              "number of paths"]


def test_a_missing_translation_raises_or_is_listed() -> None:
    message = tr("a sentence no catalog holds {x}", x=1)
    with pytest.raises(Untranslated, match="no catalog holds"):
        message.text(ZH)
    missing: list[str] = []
    assert message.text(ZH, missing) == "a sentence no catalog holds 1"
    assert missing == ["a sentence no catalog holds {x}"]


def test_a_message_without_words_needs_no_entry_and_one_without_values_is_not_formatted() -> None:
    assert tr("[F(H) H]: {rows} x {cols}", rows="n", cols="2*d").text(ZH) == "[F(H) H]: n x 2*d"
    assert tr("plain: $H^{i+1}=F_i(H^i)$").text(ZH) == "无残差：$H^{i+1}=F_i(H^i)$"


def test_plurals_choose_the_english_form_by_n() -> None:
    assert ntr("{n} wrong variant rejected.", "{n} wrong variants rejected.", 1) == (
        "1 wrong variant rejected.")
    assert ntr("{n} wrong variant rejected.", "{n} wrong variants rejected.", 3) == (
        "3 wrong variants rejected.")


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="non-empty str"):
        tr("")
    with pytest.raises(ValueError, match="not one of"):
        i18n.catalog("fr")


def test_messages_survive_pickling_and_figure_labels_find_their_message() -> None:
    message = tr("{paths} paths through {branches} residual branches", paths=8, branches=3)
    copy = pickle.loads(pickle.dumps(message))
    assert copy == message and copy.text(ZH) == message.text(ZH)
    assert i18n.made(str(message)) is message  # matplotlib keeps only the text


def test_english_prose_finds_words_outside_math_and_verbatim_is_a_str() -> None:
    assert i18n.english_prose("runs that learned: 3") == ["runs that"]
    assert i18n.english_prose("学会的运行：3，$\\mathrm{no\\ norm}$ x") == []
    assert Verbatim("1 de diciembre") == "1 de diciembre"


def test_the_language_variable_chooses_one_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(i18n.LANGUAGE_VARIABLE, ZH)
    assert i18n.languages() == (ZH,)
    monkeypatch.setenv(i18n.LANGUAGE_VARIABLE, "de")
    with pytest.raises(ValueError, match="VT_LANGUAGE"):
        i18n.languages()
    monkeypatch.delenv(i18n.LANGUAGE_VARIABLE)
    assert i18n.languages() == ("en", ZH)


def test_an_edition_keeps_its_language_and_the_untagged_outputs() -> None:
    def line(language: str, text: str) -> dict:
        return {"output_type": "display_data", "data": {"text/plain": text},
                "metadata": {"vt": {"language": language}}}

    printed = {"output_type": "stream", "name": "stdout", "text": "tensor([1.])\n"}
    outputs = [printed, line("en", "two layers"), line(ZH, "两层")]
    assert [o.get("text") for o in outputs_for(outputs, ZH)] == ["tensor([1.])\n", "两层\n"]
    assert [o.get("text") for o in outputs_for(outputs, "en")] == ["tensor([1.])\n",
                                                                   "two layers\n"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_output_printed_per_language_has_its_translation(notebook: Path) -> None:
    """Each cell prints as many outputs in Chinese as in English, none untranslated."""
    for index, cell in enumerate(json.loads(notebook.read_text("utf8"))["cells"]):
        tags = [o.get("metadata", {}).get("vt", {}) for o in cell.get("outputs", [])]
        tags = [t for t in tags if t]
        languages = [t["language"] for t in tags]
        assert languages.count("en") == languages.count(ZH), f"cell {index}: {languages}"
        untranslated = [m for t in tags for m in t.get("untranslated", [])]
        assert not untranslated, (f"{notebook.name}, cell {index}: not in the catalog "
                                  f"(translate, then re-execute): {untranslated}")


def test_a_message_is_a_str_subclass_so_callers_keep_working() -> None:
    assert isinstance(tr("depth L"), str) and issubclass(Message, str)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_lines_printed_without_say_hold_no_english_prose(notebook: Path) -> None:
    """A ``print`` reaches both editions unchanged: it may show numbers, tensors and code, not
    sentences (the Chinese build warns about the same outputs)."""
    for index, cell in enumerate(json.loads(notebook.read_text("utf8"))["cells"]):
        for output in cell.get("outputs", []):
            if "vt" in output.get("metadata", {}) or "image/png" in output.get("data", {}):
                continue
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            words = i18n.english_prose("".join(text))
            assert not words, f"{notebook.name}, cell {index}: print it with say(): {words}"


def test_a_width_pads_chinese_by_its_display_width() -> None:
    """A Chinese character takes two columns: a padded Chinese label keeps a table aligned."""
    for spec, english in (("8s", "no norm |"), (">10", "   no norm|"), ("^12", "  no norm   |")):
        message = tr("{name:" + spec + "}|", name=tr("no norm"))
        assert message == english
        chinese = message.text(ZH)
        columns = sum(2 if "\u4e00" <= ch <= "\u9fff" else 1 for ch in chinese)
        assert columns == len(english) and "无归一化" in chinese, chinese


def test_a_template_without_words_takes_chinese_separators_around_chinese_values() -> None:
    message = tr("{statement}: {value}", statement=tr("learned the task"), value=3)
    assert message == "learned the task: 3" and message.text(ZH) == "学会了任务：3"
    assert tr("{a}: {b}", a="x", b=1).text(ZH) == "x: 1"  # no Chinese: left as it is


def test_a_figure_is_drawn_with_its_texts_translated_tick_labels_included() -> None:
    """``rendered`` looks up every worded text of a figure, tick labels given as text among
    them, and lists the ones the catalog lacks (shown in English)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from verified_transformer.notebook import rendered

    fig, ax = plt.subplots()
    ax.imshow([[0, 1], [1, 0]])
    ax.set_yticks(range(2), ["no norm", "a label no catalog holds"])  # a FuncFormatter
    ax.set_title(tr("{n} layers", n=12))
    try:
        drawn = {language: (keys, missing) for language, _png, keys, missing
                 in rendered(fig, ["en", ZH])}
        chinese = [t.get_text() for t in ax.get_yticklabels()] + [ax.get_title()]
    finally:
        plt.close(fig)
    keys, missing = drawn[ZH]
    assert {"no norm", "{n} layers", "a label no catalog holds"} <= set(keys)
    assert missing == ["a label no catalog holds"] and drawn["en"][1] == []
    assert chinese == ["无归一化", "a label no catalog holds", "12 层"]
