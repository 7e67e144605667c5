"""Tests of verified_transformer.experiments on tiny configurations: shapes, determinism, bad input,
and the direction of each effect where it is robust."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from verified_transformer.experiments import (
    TASK,
    TRAINED_BELOW,
    EncoderLayer,
    SequenceModel,
    final_loss,
    gradient_depth_ratio,
    gradient_norms_at_init,
    loss_verdict,
    position_similarity,
    position_similarity_at_init,
    post_ln_without_warmup,
    reversal_batch,
    seeded,
    softmax_jacobian,
    softmax_saturation,
    train_reversal,
    trained,
    training_curve,
    warmup_curves,
    warmup_final_losses,
    xiong_init_,
)
from verified_transformer.nn import TransformerEncoderLayer

TINY = {"d_model": 16, "nhead": 2, "dim_feedforward": 32, "batch_size": 2, "seq_len": 4}


# --- seeded -----------------------------------------------------------------------------------


def test_seeded_restores_the_global_generator_and_thread_count() -> None:
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7):
        inside = torch.rand(3)
        assert torch.get_num_threads() == 1
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
    with seeded(7):
        assert torch.equal(torch.rand(3), inside)


@pytest.mark.parametrize(("seed", "error"), [(-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_seeded_rejects_bad_seeds(seed: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="seed"), seeded(seed):  # type: ignore[arg-type]
        pass


# --- gradient norms at initialization -------------------------------------------------------


def test_xiong_init_zeroes_query_and_key_and_biases() -> None:
    layer = TransformerEncoderLayer(32, 4, 64, dropout=0.0)
    with seeded(0):
        xiong_init_(layer)
    w = layer.self_attn.in_proj_weight
    assert not w[:64].any() and w[64:].std() > 0
    assert not layer.self_attn.in_proj_bias.any() and not layer.linear2.bias.any()
    # Xavier-normal on the square W^V: variance 2 / (d + d) = 1/32.
    assert 0.7 < float(w[64:].detach().var()) * 32 < 1.3


def test_gradient_norms_shape_and_determinism() -> None:
    first = gradient_norms_at_init(True, 3, seed=5, **TINY)
    assert len(first) == 3 and all(math.isfinite(g) and g > 0 for g in first)
    assert gradient_norms_at_init(True, 3, seed=5, **TINY) == first
    assert gradient_norms_at_init(True, 3, seed=6, **TINY) != first
    torch.manual_seed(99)  # the global generator does not matter
    assert gradient_norms_at_init(True, 3, seed=5, **TINY) == first


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "name"),
    [
        ((1, 2), {"seed": 0}, TypeError, "norm_first"),
        ((True, 0), {"seed": 0}, ValueError, "num_layers"),
        ((True, 2), {"seed": -3}, ValueError, "seed"),
        ((True, 2), {"seed": 0, "d_model": 2.0}, TypeError, "d_model"),
        ((True, 2), {"seed": 0, "branch_scale": 0.0}, ValueError, "branch_scale"),
        ((True, 2), {"seed": 0, "branch_scale": float("nan")}, ValueError, "branch_scale"),
    ],
)
def test_gradient_norms_reject_bad_input(
    args: tuple, kwargs: dict, error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        gradient_norms_at_init(*args, **kwargs)


def test_last_layer_gradient_shrinks_with_depth_for_pre_ln_only() -> None:
    """Theorem 1 of Xiong et al.: Pre-LN ~ 1/sqrt(L) (sqrt(2/12) = 0.41), Post-LN ~ constant."""
    seeds = range(3)

    def ratio(norm_first: bool) -> float:
        deep = statistics.mean(gradient_norms_at_init(norm_first, 12, seed=s)[-1] for s in seeds)
        shallow = statistics.mean(gradient_norms_at_init(norm_first, 2, seed=s)[-1] for s in seeds)
        return deep / shallow

    assert ratio(True) < 0.6
    assert ratio(False) > 0.8


# --- models -----------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_with_residual_is_our_transformer_encoder_layer(norm_first: bool) -> None:
    with seeded(0):
        ours = EncoderLayer(16, 2, 32, norm_first=norm_first)
        reference = TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True,
                                            norm_first=norm_first)
        reference.load_state_dict(ours.state_dict())
        x = torch.randn(2, 5, 16)
        assert torch.equal(ours(x), reference(x))


def test_encoder_layer_without_residual_drops_the_skip_path() -> None:
    with seeded(0):
        plain = EncoderLayer(16, 2, 32, norm_first=False, residual=False)
        with_skip = EncoderLayer(16, 2, 32, norm_first=False)
        with_skip.load_state_dict(plain.state_dict())
        x = torch.randn(2, 5, 16)
        y = plain(x)
        attended = plain.norm1(plain.self_attn(x, x, x, need_weights=False)[0])
        expected = plain.norm2(plain.linear2(torch.relu(plain.linear1(attended))))
        torch.testing.assert_close(y, expected)
        assert not torch.allclose(y, with_skip(x))


def test_encoder_layer_rejects_a_non_bool_residual() -> None:
    with pytest.raises(TypeError, match="residual"):
        EncoderLayer(16, 2, 32, norm_first=False, residual=1)  # type: ignore[arg-type]


def test_sequence_model_shapes() -> None:
    model = SequenceModel(7, 5, d_model=16, nhead=2, dim_feedforward=32, num_layers=2,
                          norm_first=True)
    logits = model(torch.randint(7, (3, 5)))
    assert logits.shape == (3, 5, 7)


def test_position_similarity_of_equal_and_orthogonal_positions() -> None:
    same = torch.ones(2, 3, 4)
    assert position_similarity(same) == pytest.approx(1.0)
    orthogonal = torch.eye(4).expand(2, 4, 4)
    assert position_similarity(orthogonal) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="hidden"):
        position_similarity(torch.ones(2, 1, 4))


def test_positions_collapse_in_a_plain_stack_only() -> None:
    plain = position_similarity_at_init(8, residual=False, seed=0)
    assert position_similarity_at_init(8, residual=False, seed=0) == plain
    assert plain > 0.999
    assert position_similarity_at_init(8, residual=True, seed=0) < 0.9


# --- training ---------------------------------------------------------------------------------


def test_reversal_batch_reverses() -> None:
    tokens, targets = reversal_batch(4, 6, 9, torch.Generator().manual_seed(0))
    assert tokens.shape == targets.shape == (4, 6)
    assert torch.equal(targets[:, 0], tokens[:, -1]) and torch.equal(targets.flip(1), tokens)


def test_training_curve_is_deterministic() -> None:
    kwargs = {"norm_first": False, "seed": 3, "steps": 4, "lr": 1e-3, "warmup_steps": 2}
    curve = training_curve(1, **kwargs)
    assert len(curve) == 4 and all(math.isfinite(v) for v in curve)
    assert training_curve(1, **kwargs) == curve
    assert training_curve(1, **{**kwargs, "warmup_steps": 0}) != curve
    # The first loss comes before any update: near ln(vocab_size), the loss of a uniform guess.
    assert abs(curve[0] - math.log(TASK["vocab_size"])) < 0.5


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": "fast"}, TypeError, "lr"),
        ({"warmup_steps": -1}, ValueError, "warmup_steps"),
        ({"warmup_steps": 2.5}, TypeError, "warmup_steps"),
        ({"steps": 0}, ValueError, "steps"),
    ],
)
def test_train_reversal_rejects_bad_input(kwargs: dict, error: type[Exception], name: str) -> None:
    model = SequenceModel(4, 3, d_model=8, nhead=2, dim_feedforward=8, num_layers=1,
                          norm_first=True)
    with pytest.raises(error, match=name):
        train_reversal(model, **{"steps": 2, "lr": 1e-3, **kwargs})


def test_warmup_curves_have_one_loss_per_step() -> None:
    warmup = warmup_curves(seed=0, num_layers=1, steps=3, warmup_steps=2)
    assert list(warmup) == ["Post-LN, warm-up", "Post-LN, no warm-up", "Pre-LN, no warm-up"]
    assert all(len(c) == 3 for c in warmup.values())


def test_deep_plain_stack_trains_worse_than_the_residual_one() -> None:
    """He et al.'s degradation, on a short run: without residuals the loss stays near ln 8."""
    kwargs = {"norm_first": False, "seed": 0, "steps": 60, "lr": 3e-3}
    plain = training_curve(6, residual=False, **kwargs)
    residual = training_curve(6, residual=True, **kwargs)
    assert statistics.mean(plain[-10:]) > 1.9
    assert statistics.mean(residual[-10:]) < 1.5


# --- softmax saturation -----------------------------------------------------------------------


def test_softmax_jacobian_matches_autograd() -> None:
    s = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, -1), s)
    torch.testing.assert_close(softmax_jacobian(torch.softmax(s, -1)), expected)


def test_softmax_saturates_without_the_scale_only() -> None:
    d_ks = [4, 1024]
    unscaled = softmax_saturation(d_ks, scaled=False, seed=0)
    scaled = softmax_saturation(d_ks, scaled=True, seed=0)
    assert softmax_saturation(d_ks, scaled=False, seed=0) == unscaled
    assert set(unscaled) == {"score_std", "entropy", "max_weight", "jacobian_norm"}
    assert all(len(v) == 2 for v in unscaled.values())
    # score spread grows like sqrt(d_k) without the scale, stays near 1 with it
    assert unscaled["score_std"][1] > 20 and 0.8 < scaled["score_std"][1] < 1.2
    assert unscaled["entropy"][1] < 0.25 * scaled["entropy"][1] <= 0.25 * math.log(16)
    assert unscaled["jacobian_norm"][1] < 0.3 * scaled["jacobian_norm"][1]
    assert abs(scaled["entropy"][1] - scaled["entropy"][0]) < 0.2


@pytest.mark.parametrize(("d_ks", "error"), [([], ValueError), ([4, 0], ValueError),
                                             ([2.0], TypeError)])
def test_softmax_saturation_rejects_bad_dimensions(d_ks: list, error: type[Exception]) -> None:
    with pytest.raises(error, match="d_ks"):
        softmax_saturation(d_ks, scaled=True, seed=0)


# --- multi-seed summaries (chapter 6's robustness statements) -------------------------------


def test_final_loss_is_the_mean_of_the_last_losses() -> None:
    assert final_loss([9.0, 1.0, 2.0, 3.0], last=3) == 2.0
    assert final_loss([float(i) for i in range(20)]) == 14.5
    with pytest.raises(ValueError, match="last=5"):
        final_loss([1.0, 2.0], last=5)
    with pytest.raises(ValueError, match="last"):
        final_loss([1.0], last=0)


def test_gradient_depth_ratio_is_the_ratio_of_seed_means() -> None:
    seeds = [3, 4]
    expected = {
        nf: statistics.fmean(gradient_norms_at_init(nf, 4, seed=s, num_classes=64)[-1]
                             for s in seeds)
        / statistics.fmean(gradient_norms_at_init(nf, 1, seed=s, num_classes=64)[-1]
                           for s in seeds)
        for nf in (False, True)
    }
    for nf in (False, True):
        got = gradient_depth_ratio(nf, seeds=iter(seeds), shallow=1, deep=4, num_classes=64)
        assert got == expected[nf]
    # Pre-LN's last-layer gradient shrinks with depth (Theorem 1 of Xiong et al.), Post-LN's not.
    assert expected[True] < 0.75 < expected[False]


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [({"seeds": []}, ValueError, "seeds"), ({"seeds": [-1]}, ValueError, "seed"),
     ({"seeds": [0], "shallow": 3, "deep": 3}, ValueError, "shallow"),
     ({"seeds": [0], "shallow": 0}, ValueError, "shallow")],
)
def test_gradient_depth_ratio_rejects_bad_input(kwargs: dict, error: type, name: str) -> None:
    with pytest.raises(error, match=name):
        gradient_depth_ratio(True, **kwargs)


def test_warmup_final_losses_summarize_warmup_curves_per_seed() -> None:
    small = {"num_layers": 1, "steps": 12, "warmup_steps": 4}
    finals = warmup_final_losses([2, 0], **small)
    assert list(finals) == ["Post-LN, warm-up", "Post-LN, no warm-up", "Pre-LN, no warm-up"]
    for i, seed in enumerate([2, 0]):
        for label, curve in warmup_curves(seed=seed, **small).items():
            assert finals[label][i] == final_loss(curve)
    with pytest.raises(ValueError, match="seeds"):
        warmup_final_losses([], **small)


def test_post_ln_without_warmup_trains_each_seed_once() -> None:
    finals = post_ln_without_warmup(range(2), num_layers=1, lr=3e-3, steps=10)
    assert list(finals) == [0, 1] and finals[0] != finals[1]
    curve = training_curve(1, norm_first=False, seed=1, steps=10, lr=3e-3)
    assert finals[1] == final_loss(curve)
    with pytest.raises(TypeError, match="seed"):
        post_ln_without_warmup([0.5], num_layers=1, lr=3e-3, steps=10)


def test_trained_means_below_half_the_chance_level() -> None:
    assert TRAINED_BELOW == pytest.approx(math.log(8) / 2)
    assert trained(0.01) and trained(1.0) and not trained(1.1) and not trained(2.08)


def test_loss_verdict_names_three_ranges() -> None:
    assert [loss_verdict(x) for x in (0.0, 0.19, 0.2, 1.0, 1.9, 1.91, 2.08)] == [
        "learned the task", "learned the task", "learning", "learning", "learning",
        "at chance", "at chance"]
    with pytest.raises(ValueError, match="loss"):
        loss_verdict(float("nan"))
