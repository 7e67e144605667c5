"""The date-translation task: data, schedule, a short training run, translate's bad input, and
the training claims (label smoothing, the warm-up peak)."""

from __future__ import annotations

import datetime
import re

import pytest
import torch

from verified_transformer.experiments import translation as tr

# --- data --------------------------------------------------------------------------------------


def test_date_pairs_are_deterministic_and_depend_on_the_seed() -> None:
    assert tr.date_pairs(50, seed=3) == tr.date_pairs(50, seed=3)
    assert tr.date_pairs(50, seed=3) != tr.date_pairs(50, seed=4)
    assert tr.date_pairs(20, seed=3, locales=["zh_CN"])[0][0].endswith(("日", "一", "二", "三",
                                                                         "四", "五", "六"))


def test_every_source_renders_its_target_date() -> None:
    """Parse each ISO target back and check that babel renders that date, in one of the long or
    full formats of one supported locale, as exactly the source."""
    for source, target in tr.date_pairs(400, seed=11):
        date = datetime.date.fromisoformat(target)
        assert tr.FIRST_DATE <= date <= tr.LAST_DATE
        renderings = {tr.render(date, loc, fmt) for loc in tr.LOCALES for fmt in tr.FORMATS}
        assert source in renderings, (source, target)


def test_sources_determine_their_date() -> None:
    """No two dates of two whole years (one a leap year) share a rendering in any supported
    locale and format, so the task has one right answer."""
    seen: dict[str, datetime.date] = {}
    day = datetime.date(2023, 1, 1)
    while day.year < 2025:
        for locale in tr.LOCALES:
            for fmt in tr.FORMATS:
                text = tr.render(day, locale, fmt)
                assert seen.setdefault(text, day) == day, (text, seen[text], day)
        day += datetime.timedelta(days=1)
    assert "2024年2月29日" in seen and "29. Februar 2024" in seen


def test_all_locales_and_both_formats_occur() -> None:
    pairs = tr.date_pairs(600, seed=5)
    alphabet = set(tr.source_alphabet())
    assert all(set(source) <= alphabet for source, _ in pairs)
    assert any("年" in s for s, _ in pairs) and any("г." in s for s, _ in pairs)
    assert any("," in s and "de" in s for s, _ in pairs)  # Spanish full format


def test_date_pairs_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="locales: 'xx_XX' is not supported"):
        tr.date_pairs(3, seed=0, locales=["xx_XX"])
    with pytest.raises(TypeError, match="locales"):
        tr.date_pairs(3, seed=0, locales="en_US")
    with pytest.raises(ValueError, match="count"):
        tr.date_pairs(0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        tr.date_pairs(3, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        tr.date_pairs(3, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fmt"):
        tr.render(datetime.date(2026, 1, 1), "en_US", "short")


def test_training_pairs_never_contain_a_validation_source() -> None:
    stream = tr.training_pairs(20, seed=3, validation_size=64)
    assert len(stream) == 20 * tr.DEFAULTS["batch_size"]
    validation = {source for source, _ in tr.validation_pairs(3, 64)}
    assert not validation & {source for source, _ in stream}
    assert stream[:5] == [p for p in tr.date_pairs(10, seed=6) if p[0] not in validation][:5]


# --- schedule ----------------------------------------------------------------------------------


def test_schedule_rises_to_its_peak_at_warmup_then_decays() -> None:
    rates = [tr.noam_learning_rate(s, 64, 100) for s in range(1, 400)]
    assert max(range(len(rates)), key=rates.__getitem__) + 1 == 100
    assert rates[99] == pytest.approx((64 * 100) ** -0.5)
    assert rates[0] == pytest.approx(64**-0.5 * 100**-1.5)
    assert rates[399 - 1] == pytest.approx(64**-0.5 * 399**-0.5)
    flat = [tr.noam_learning_rate(s, 64, 0) for s in (1, 50, tr.DEFAULTS["warmup_steps"])]
    assert flat[0] == flat[1] == flat[2] == pytest.approx(
        (64 * tr.DEFAULTS["warmup_steps"]) ** -0.5
    )
    with pytest.raises(ValueError, match="warmup_steps"):
        tr.noam_learning_rate(1, 64, -1)
    with pytest.raises(ValueError, match="step"):
        tr.noam_learning_rate(0, 64, 10)


# --- training and translate ------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_run() -> tuple[tr.DateTranslator, dict[str, list[float]]]:
    return tr.train_date_translator(steps=120, eval_every=40, seed=1, validation_size=64)


def test_short_training_run_learns(short_run) -> None:
    model, history = short_run
    assert history["step"] == [40, 80, 120]
    assert len(history["lr"]) == 120
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    # after 120 steps the output has the ISO shape, and many years are copied already (a
    # random guess of four digits is right once in 10^4)
    pairs = tr.date_pairs(64, seed=99)
    predictions = tr.translate(model, [s for s, _ in pairs])
    shaped = sum(re.fullmatch(r"\d{4}-\d{2}-\d{2}", p) is not None for p in predictions)
    years = sum(p[:4] == t[:4] for p, (_, t) in zip(predictions, pairs, strict=True))
    assert shaped > 48 and years > 10, (shaped, years)


def test_training_is_reproducible() -> None:
    _, first = tr.train_date_translator(steps=6, eval_every=3, seed=2, validation_size=16)
    _, again = tr.train_date_translator(steps=6, eval_every=3, seed=2, validation_size=16)
    assert first == again


def test_model_is_built_from_our_layers(short_run) -> None:
    import verified_transformer.nn as ours
    from verified_transformer.nn.positional import SinusoidalPositionalEncoding

    model, _ = short_run
    assert isinstance(model.transformer, ours.Transformer)
    assert isinstance(model.positions, SinusoidalPositionalEncoding)


def test_translate_bad_input(short_run) -> None:
    model, _ = short_run
    assert tr.translate(model, []) == []
    out = tr.translate(model, ["1. Dezember 2026", "2026年12月1日"])
    assert len(out) == 2 and all(isinstance(o, str) for o in out)
    with pytest.raises(ValueError, match=r"no token for: \['@', 'ß'\]"):
        tr.translate(model, ["1. Dezember 2026@", "ß"])
    with pytest.raises(ValueError, match="max_source_length=48"):
        tr.translate(model, ["Dezember " * 6])
    with pytest.raises(TypeError, match=r"sources\[1\] must be a str"):
        tr.translate(model, ["2026年12月1日", 2026])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"sources\[0\] is an empty string"):
        tr.translate(model, [""])
    with pytest.raises(TypeError, match="sources must be a list"):
        tr.translate(model, "2026年12月1日")  # type: ignore[arg-type]


def test_train_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="norm_first"):
        tr.train_date_translator(norm_first=1, steps=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="warmup_steps"):
        tr.train_date_translator(warmup_steps=-5, steps=1)
    with pytest.raises(ValueError, match="steps"):
        tr.train_date_translator(steps=0)


def test_cross_attention_maps_have_one_row_per_output(short_run) -> None:
    model, _ = short_run
    sources = ["2026年12月1日", "Tuesday, December 1, 2026"]
    outputs, maps = tr.cross_attention(model, sources)
    assert outputs == tr.translate(model, sources)
    for text, out, weights in zip(sources, outputs, maps, strict=True):
        assert weights.shape == (len(out), len(text))
        torch.testing.assert_close(weights.sum(-1), torch.ones(len(out)))


@pytest.mark.parametrize("norm_first", [False, True])
def test_cross_attention_maps_match_torchs_transformer(norm_first: bool) -> None:
    """The same weights in torch.nn.Transformer give the same translations and the same maps:
    the hook sees the queries of torch's own layer as well as ours."""
    sizes = {k: tr.DEFAULTS[k] for k in ("d_model", "nhead", "num_encoder_layers",
                                         "num_decoder_layers", "dim_feedforward", "dropout",
                                         "max_source_length")}
    torch.manual_seed(3)
    ours = tr.DateTranslator(tr.source_alphabet(), norm_first=norm_first, **sizes).eval()
    theirs = tr.DateTranslator(tr.source_alphabet(), norm_first=norm_first, **sizes).eval()
    theirs.transformer = torch.nn.Transformer(
        sizes["d_model"], sizes["nhead"], sizes["num_encoder_layers"],
        sizes["num_decoder_layers"], sizes["dim_feedforward"], dropout=0.0, batch_first=True,
        norm_first=norm_first,
    ).eval()
    theirs.load_state_dict(ours.state_dict())
    sources = ["2026年12月1日", "Dienstag, 1. Dezember 2026"]
    ours_out, ours_maps = tr.cross_attention(ours, sources)
    theirs_out, theirs_maps = tr.cross_attention(theirs, sources)
    assert ours_out == theirs_out
    for a, b in zip(ours_maps, theirs_maps, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
