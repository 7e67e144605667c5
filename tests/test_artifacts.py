"""The experiments' stored artifacts: they match their code, they are small, and a cheap slice of
every experiment, re-run on the machine at hand, confirms what the book says about it.

The slices and their tolerances:

* ``gradients_at_init``: seeds 0 and 1 at 2 and 12 layers, recomputed. No training and float64
  arithmetic: CPUs differ in the last bits only (about 1e-16 relative, a few hundred roundings
  deep), so every norm must agree to 1e-9 relative.
* ``warmup`` (seed 0, 100 steps): training amplifies the CPU's rounding, so the curves are not
  compared step by step. The first loss comes before any update
  and must agree to 1e-4 (float32 rounding of an untrained model, about 1e-6); the book's verdicts
  must be the same words, which their bounds allow: "learned the task" below 0.2 nats and "at
  chance" above 1.9, where the stored runs end near 0.01 and 2.08.
* ``date_translator``: the stored weights, evaluated here, must translate at least as many
  held-out dates as stored, less 2 in 1000 (a prediction can flip only where two logits are
  within a rounding error of each other); the showcase translations and their cross-attention
  maps must be the stored ones (maps to 1e-4, float32 inference); and retraining the first 50
  steps must reach the stored validation loss at step 50 within 10 % (rounding differences grow
  during training but stay far below the differences the chapter reads: Post-LN without warm-up
  ends more than twice as high); so must the first 50 steps without LayerNorm and without skips.
* ``ablation``: in tests/test_ablation_slice.py (one cell, with a seed the book did not use).
"""

from __future__ import annotations

import math

import pytest
import torch

from verified_transformer.experiments import (
    gradient_norms_at_init,
    warmup_curves,
)
from verified_transformer.experiments import translation as tr
from verified_transformer.experiments.artifacts import (
    ARTIFACTS,
    EXPERIMENTS,
    _all,
    artifact_bytes,
    load,
    load_weights,
    source_hash,
    stale,
)
from verified_transformer.experiments.findings import (
    warmup_conclusions,
)

NAMES = sorted(_all())


@pytest.mark.parametrize("name", NAMES)
def test_artifact_was_made_by_todays_code(name: str) -> None:
    assert stale(name) is None, stale(name)


@pytest.mark.parametrize("name", NAMES)
def test_artifact_records_its_provenance_and_conclusions(name: str) -> None:
    artifact = load(name)
    made = artifact["provenance"]
    assert made["source_sha256"] == source_hash(EXPERIMENTS[name])
    assert made["command"].startswith("python -m verified_transformer.experiments")
    assert {"torch", "python"} <= made["versions"].keys()
    assert {"machine", "torch_cpu_capability"} <= made["cpu"].keys()
    # The stored conclusions are what the experiment's conclusions function says of its result.
    assert artifact["conclusions"] == EXPERIMENTS[name].conclusions(artifact["result"])


def test_a_changed_source_makes_an_artifact_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    from verified_transformer.experiments import artifacts

    monkeypatch.setattr(artifacts, "source_hash", lambda experiment: "0" * 64)
    message = stale("warmup")
    assert message and "run `make experiments`" in message


def test_artifacts_are_small() -> None:
    assert artifact_bytes() < 5_000_000, f"artifacts take {artifact_bytes() / 1e6:.1f} MB"
    assert {p.name for p in ARTIFACTS.iterdir()} == set(NAMES)


def test_tampered_weights_are_refused(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from verified_transformer.experiments import artifacts

    folder = tmp_path / "date_translator"
    folder.mkdir()
    (folder / "result.json").write_bytes((ARTIFACTS / "date_translator" / "result.json")
                                         .read_bytes())
    weights = load_weights("date_translator")
    weights["readout.bias"] = weights["readout.bias"] + 1
    torch.save(weights, folder / "weights.pt")
    monkeypatch.setattr(artifacts, "ARTIFACTS", tmp_path)
    with pytest.raises(ValueError, match="make experiments"):
        load_weights("date_translator")


# --- slices ------------------------------------------------------------------------------------


def test_gradient_norms_recomputed_agree_with_the_stored_ones() -> None:
    stored = load("gradients_at_init")["result"]
    for index, depth in ((0, 2), (-1, 12)):
        assert stored["depths"][index] == depth
        for name, norm_first in (("Post-LN", False), ("Pre-LN", True)):
            for seed in (0, 1):
                fresh = gradient_norms_at_init(norm_first, depth, seed=seed)
                assert fresh == pytest.approx(stored["norms"][name][index][seed], rel=1e-9)


def _verdicts(conclusions: dict) -> dict:
    return {k: v for k, v in conclusions.items() if "mean of the last 10 steps" in k
            or "chance level" in k}


def test_warmup_rerun_of_seed_0_reaches_the_stored_verdicts() -> None:
    artifact = load("warmup")
    curves = warmup_curves(seed=0)
    for label, curve in curves.items():
        assert curve[0] == pytest.approx(artifact["result"]["curves"][label][0], abs=1e-4)
    fresh = warmup_conclusions({**artifact["result"], "curves": curves})
    assert _verdicts(fresh) == _verdicts(artifact["conclusions"])


@pytest.fixture(scope="module")
def stored_translator() -> tuple[dict, tr.DateTranslator]:
    return load("date_translator")["result"], tr.load_date_translator()


def test_stored_translator_translates_the_held_out_dates_as_stored(stored_translator) -> None:
    stored, model = stored_translator
    pairs = tr.held_out_pairs(stored["held_out"]["count"])
    predictions = tr.translate(model, [source for source, _ in pairs])
    correct = sum(p == t for p, (_, t) in zip(predictions, pairs, strict=True))
    assert correct >= stored["held_out"]["correct"] - 2


def test_stored_translator_shows_the_stored_translations_and_maps(stored_translator) -> None:
    stored, model = stored_translator
    showcase = stored["showcase"]
    # A margin of 0.1 between the two best logits is 10^4 times a float32 rounding of a logit:
    # the notebook's live translation of these sources cannot flip on another CPU.
    assert showcase["decision_margin"] > 0.1
    assert tr.decision_margin(model, showcase["sources"]) == pytest.approx(
        showcase["decision_margin"], abs=1e-4)
    outputs, maps = tr.cross_attention(model, showcase["sources"])
    assert outputs == showcase["outputs"]
    for fresh, kept in zip(maps, showcase["maps"], strict=True):
        torch.testing.assert_close(fresh, torch.tensor(kept), rtol=0, atol=1e-4)


def test_retraining_the_first_50_steps_reaches_the_stored_loss(stored_translator) -> None:
    stored, _ = stored_translator
    _, history = tr.train_date_translator(steps=50, eval_every=50, average_checkpoints=0)
    kept = stored["history"]["val_loss"][stored["history"]["step"].index(50)]
    assert history["step"] == [50] and math.isfinite(history["val_loss"][-1])
    assert history["val_loss"][-1] == pytest.approx(kept, rel=0.10)


@pytest.mark.parametrize("what", tr.ABLATIONS)
def test_retraining_an_ablated_translator_reaches_the_stored_loss(stored_translator,
                                                                  what: str) -> None:
    """The first 50 steps without LayerNorm or without skips, against the stored run's loss
    at step 50 (same tolerance and reason as the full model's)."""
    stored, _ = stored_translator
    kept = stored["ablation"][what]["history"]
    _, history = tr.train_date_translator(ablation=what, steps=50, eval_every=50,
                                          average_checkpoints=0)
    assert history["val_loss"][-1] == pytest.approx(kept["val_loss"][kept["step"].index(50)],
                                                    rel=0.10)
