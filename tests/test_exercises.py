"""The exercise checkers: right answers pass (also when written differently from the solutions),
named mistakes are named, crashes and wrong shapes get one clear sentence, and the registry, the
exercise notebooks and the index page agree.

The candidates below are written here, independently of the checkers' own mistake tables.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from verified_transformer import exercises
from verified_transformer.exercises import (
    BY_ID,
    CHAPTERS,
    EXERCISES,
    KINDS,
    attention,
    check,
    layers,
    normalization,
    predictions,
    residuals,
    schedules,
    translation,
)
from verified_transformer.exercises.__main__ import markdown_page

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "book" / "appendix_exercises.md"


# Right answers, written differently from the worked solutions ---------------------------------


def ln_var(x, weight, bias, eps):
    return (x - x.mean((-2, -1), keepdim=True)) / torch.sqrt(
        torch.var(x, (-2, -1), unbiased=False, keepdim=True) + eps) * weight + bias


def ln_flattened(x, weight, bias, eps):
    flat = x.flatten(-2)
    mean = flat.sum(-1, keepdim=True) / flat.shape[-1]
    mean_sq = (flat * flat).sum(-1, keepdim=True) / flat.shape[-1]
    y = (flat - mean) * torch.rsqrt(mean_sq - mean * mean + eps)
    return torch.addcmul(bias, y.unflatten(-1, x.shape[-2:]), weight)


def rms_by_norm(x, weight, eps):
    n = x.shape[-1]
    return weight * x / torch.sqrt(torch.linalg.vector_norm(x, dim=-1, keepdim=True) ** 2 / n + eps)


def log_softmax_logsumexp(x, dim):
    return x - torch.logsumexp(x, dim, keepdim=True)


def log_softmax_shifted(x, dim):
    m = x.max(dim, keepdim=True).values
    return x - m - torch.log(torch.sum(torch.exp(x - m), dim, keepdim=True))


def attention_einsum(q, k, v, mask):
    scores = torch.einsum("...le,...se->...ls", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    return torch.einsum("...ls,...se->...le", torch.softmax(scores, -1), v)


def attention_scale_q_first(q, k, v, mask=None):
    scores = (q * q.shape[-1] ** -0.5) @ k.mT
    return F.softmax(scores if mask is None else scores.masked_fill(mask == -math.inf, -math.inf),
                     dim=-1) @ v


def gqa_expand(q, k, v):
    groups, heads = k.shape[1], q.shape[1]
    index = torch.arange(heads) // (heads // groups)
    return F.scaled_dot_product_attention(q, k[:, index], v[:, index])


def window_mask_where(size, window, dtype):
    i = torch.arange(size)
    far = (i[None, :] > i[:, None]) | (i[None, :] <= i[:, None] - window)
    return torch.where(far, torch.tensor(-math.inf, dtype=dtype), torch.tensor(0.0, dtype=dtype))


def key_padding_compare(lengths, max_len):
    return torch.stack([torch.arange(max_len) >= n for n in lengths])


def peri_long_hand(x, block):
    a = block.self_attn(block.norm1(x), is_causal=True)
    h = x + block.norm1_out(a)
    f = block.linear2(F.gelu(block.linear1(block.norm2(h))))
    return h + block.norm2_out(f)


class RepairedLayer(nn.Module):
    """The article's layer, repaired: torch's part names, two linear maps, batch first."""

    def __init__(self, d_model, num_heads, dff, dropout):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, num_heads, dropout, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d_model, dff), nn.Linear(dff, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.relu = nn.ReLU()

    def forward(self, x, mask=None):
        out1 = self.norm1(x + self.self_attn(x, x, x, attn_mask=mask)[0])
        return self.norm2(out1 + self.linear2(self.relu(self.linear1(out1))))


def teacher_forcing_slices(targets, vocab):
    width = max(len(t) for t in targets) + 2
    ids = torch.tensor([[vocab.index(c) for c in ["<s>", *t, "</s>"]]
                        + [vocab.index("<pad>")] * (width - len(t) - 2) for t in targets])
    labels = ids[:, 1:].clone()
    labels[labels == vocab.index("<pad>")] = -100
    return ids[:, :-1].clone(), labels


def softmax_jacobian_loops(z):
    p = torch.softmax(z, -1)
    n = p.shape[-1]
    return torch.stack([torch.stack([p[i] * ((1.0 if i == j else 0.0) - p[j]) for j in range(n)])
                        for i in range(n)])


def ln_jacobian_autograd(x, eps):
    def f(v):
        return (v - v.mean()) / torch.sqrt(v.var(unbiased=False) + eps)

    return torch.autograd.functional.jacobian(f, x)


def noam_branches(step, d_model, warmup_steps):
    if step < warmup_steps:
        return step / (math.sqrt(d_model) * warmup_steps**1.5)
    return 1 / math.sqrt(d_model * step)


def score_variance_sum_of_terms(d_k):
    return sum(1.0 for _ in range(d_k))  # d_k independent terms q_i k_i, each of variance 1


def spectrum_numerically(n, var, eps):
    x = torch.linspace(-1, 1, n, dtype=torch.float64)
    x = x / x.std(unbiased=False) * math.sqrt(var)
    return torch.linalg.eigvalsh(ln_jacobian_autograd(x, eps))


RIGHT = [
    ("layer_norm_2d", ln_var), ("layer_norm_2d", ln_flattened), ("rms_norm", rms_by_norm),
    ("log_softmax", log_softmax_logsumexp), ("log_softmax", log_softmax_shifted),
    ("attention", attention_einsum), ("attention", attention_scale_q_first),
    ("grouped_query_attention", gqa_expand), ("window_mask", window_mask_where),
    ("key_padding_mask", key_padding_compare), ("peri_ln_block", peri_long_hand),
    ("capstone", RepairedLayer), ("teacher_forcing", teacher_forcing_slices),
    ("softmax_jacobian", softmax_jacobian_loops),
    ("layer_norm_jacobian", ln_jacobian_autograd), ("noam_lr", noam_branches),
    ("score_variance", score_variance_sum_of_terms), ("layernorm_spectrum", spectrum_numerically),
    ("branch_scale", lambda n: n**-0.5),
]


@pytest.mark.parametrize(("exercise_id", "candidate"), RIGHT,
                         ids=[f"{e}-{c.__name__}" for e, c in RIGHT])
def test_right_answers_written_differently_are_accepted(exercise_id, candidate) -> None:
    verdict = check(exercise_id, candidate)
    assert verdict.startswith("Correct:"), verdict


# Common mistakes, written here, and the name the checker must give them ------------------------


def ln_unbiased(x, weight, bias, eps):
    centered = x - x.mean((-2, -1), keepdim=True)
    return centered / torch.sqrt(x.var((-2, -1), keepdim=True) + eps) * weight + bias


def ln_last_dim_only(x, weight, bias, eps):  # chapter 2's LayerNorm, row by row
    return F.layer_norm(x, x.shape[-1:], eps=eps) * weight + bias


def ln_no_affine(x, weight, bias, eps):
    return F.layer_norm(x, x.shape[-2:], eps=eps)


def rms_centered(x, weight, eps):
    return F.layer_norm(x, x.shape[-1:], weight, None, eps)


def log_softmax_of_softmax(x, dim):
    return torch.log(F.softmax(x, dim=dim))


def log_softmax_last_dim(x, dim):
    return F.log_softmax(x, dim=-1)


def attention_over_queries(q, k, v, mask):
    s = q @ k.transpose(-1, -2) / math.sqrt(q.size(-1))
    if mask is not None:
        s = s + mask
    return torch.softmax(s, dim=-2) @ v


def attention_one_over_dk(q, k, v, mask):
    s = q @ k.transpose(-1, -2) / q.size(-1)
    if mask is not None:
        s = s + mask
    return s.softmax(-1) @ v


def attention_scale_outside_exp(q, k, v, mask):  # the article's exp(q k) / sqrt(d_k), normalized
    s = q @ k.transpose(-1, -2)
    if mask is not None:
        s = s + mask
    a = torch.exp(s - s.amax(-1, keepdim=True)) / math.sqrt(q.size(-1))
    return a / a.sum(-1, keepdim=True) @ v


def gqa_tiled(q, k, v):
    r = q.shape[1] // k.shape[1]
    return F.scaled_dot_product_attention(q, torch.cat([k] * r, 1), torch.cat([v] * r, 1))


def window_causal_only(size, window, dtype):
    return torch.full((size, size), -math.inf, dtype=dtype).triu(1)


def window_one_too_many(size, window, dtype):
    return torch.full((size, size), -math.inf, dtype=dtype).triu(1) + torch.full(
        (size, size), -math.inf, dtype=dtype).tril(-window - 1)


def padding_inverted(lengths, max_len):
    return torch.arange(max_len)[None, :] < lengths[:, None]


def peri_as_pre(x, block):
    h = x + block.self_attn(block.norm1(x), is_causal=True)
    return h + block.linear2(F.gelu(block.linear1(block.norm2(h))))


def peri_norm_after_add(x, block):
    h = block.norm1_out(x + block.self_attn(block.norm1(x), is_causal=True))
    return block.norm2_out(h + block.linear2(F.gelu(block.linear1(block.norm2(h)))))


class SequenceFirstLayer(RepairedLayer):
    def __init__(self, d_model, num_heads, dff, dropout):
        super().__init__(d_model, num_heads, dff, dropout)
        self.self_attn = nn.MultiheadAttention(d_model, num_heads, dropout)


class NoActivationLayer(RepairedLayer):
    def __init__(self, d_model, num_heads, dff, dropout):
        super().__init__(d_model, num_heads, dff, dropout)
        self.relu = nn.Identity()


def gqa_unscaled(q, k, v):
    r = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(r, 1), v.repeat_interleave(r, 1)
    return torch.softmax(q @ k.transpose(-1, -2), -1) @ v


def gqa_softmax_over_queries(q, k, v):
    r = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(r, 1), v.repeat_interleave(r, 1)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -2) @ v


class GeluLayer(RepairedLayer):
    def __init__(self, d_model, num_heads, dff, dropout):
        super().__init__(d_model, num_heads, dff, dropout)
        self.relu = nn.GELU()


def teacher_forcing_unshifted(targets, vocab):
    decoder_input, labels = teacher_forcing_slices(targets, vocab)
    return torch.cat((decoder_input[:, 1:], labels[:, -1:].clamp(min=0)), 1), labels


def jacobian_diag_only(z):
    return torch.diag(torch.softmax(z, -1))


def ln_jacobian_no_outer(x, eps):
    n = x.numel()
    return (torch.eye(n, dtype=x.dtype) - 1 / n) / torch.sqrt(x.var(unbiased=False) + eps)


def noam_no_warmup(step, d_model, warmup_steps):
    return 1 / math.sqrt(d_model * step)


def score_std(d_k):
    return d_k**0.5


def spectrum_eps_zero(n, var, eps):
    return torch.tensor([0.0, 0.0] + [(var + eps) ** -0.5] * (n - 2), dtype=torch.float64)


MISTAKES = [
    ("layer_norm_2d", ln_unbiased, "unbiased variance"),
    ("layer_norm_2d", ln_last_dim_only, "each row on its own"),
    ("layer_norm_2d", ln_no_affine, "leaves out the gain and the bias"),
    ("rms_norm", rms_centered, "subtracts the mean"),
    ("log_softmax", log_softmax_of_softmax, "logarithm of the softmax"),
    ("log_softmax", log_softmax_last_dim, "ignores dim"),
    ("attention", attention_over_queries, "softmax over the query axis"),
    ("attention", attention_one_over_dk, "scales by 1/d_k instead of 1/sqrt(d_k)"),
    ("attention", attention_scale_outside_exp, "outside the exponential"),
    ("grouped_query_attention", gqa_tiled, "tiles the key/value heads"),
    ("grouped_query_attention", gqa_unscaled, "leaves out the scale"),
    ("grouped_query_attention", gqa_softmax_over_queries, "softmax over the queries"),
    ("window_mask", window_causal_only, "the window blocks nothing"),
    ("window_mask", window_one_too_many, "window + 1 keys"),
    ("key_padding_mask", padding_inverted, "inverted"),
    ("peri_ln_block", peri_as_pre, "Pre-LN block"),
    ("peri_ln_block", peri_norm_after_add, "normalizes after the residual addition"),
    ("capstone", SequenceFirstLayer, "attends along the batch axis"),
    ("capstone", NoActivationLayer, "no activation between the two linear layers"),
    ("capstone", GeluLayer, "uses GELU"),
    ("teacher_forcing", teacher_forcing_unshifted, "does not shift"),
    ("softmax_jacobian", jacobian_diag_only, "diag(p) alone"),
    ("layer_norm_jacobian", ln_jacobian_no_outer, "-x_hat x_hat^T / n"),
    ("noam_lr", noam_no_warmup, "has no warm-up"),
    ("score_variance", score_std, "standard deviation"),
    ("layernorm_spectrum", spectrum_eps_zero, "eigenvalue 0 along x_hat"),
    ("branch_scale", lambda n: 1 / n, "scales by 1/N"),
]


@pytest.mark.parametrize(("exercise_id", "candidate", "name"), MISTAKES,
                         ids=[f"{e}-{c.__name__}" for e, c, _ in MISTAKES])
def test_common_mistakes_are_named(exercise_id, candidate, name) -> None:
    verdict = check(exercise_id, candidate)
    assert verdict.startswith("Not correct:") and name in verdict, verdict


TABLES = {
    "layer_norm_2d": normalization.LAYER_NORM_2D_MISTAKES,
    "rms_norm": normalization.RMS_NORM_MISTAKES,
    "layer_norm_jacobian": normalization.LAYER_NORM_JACOBIAN_MISTAKES,
    "log_softmax": attention.LOG_SOFTMAX_MISTAKES,
    "softmax_jacobian": attention.SOFTMAX_JACOBIAN_MISTAKES,
    "grouped_query_attention": attention.GROUPED_QUERY_MISTAKES,
    "attention": attention.ATTENTION_MISTAKES,
    "window_mask": attention.WINDOW_MASK_MISTAKES,
    "key_padding_mask": attention.KEY_PADDING_MASK_MISTAKES,
    "peri_ln_block": layers.PERI_MISTAKES,
    "teacher_forcing": translation.TEACHER_FORCING_MISTAKES,
    "greedy_decode": translation.GREEDY_MISTAKES,
    "noam_lr": schedules.NOAM_MISTAKES,
    "score_variance": attention.SCORE_VARIANCE_MISTAKES,
    "layernorm_spectrum": normalization.LAYERNORM_SPECTRUM_MISTAKES,
    "branch_scale": residuals.BRANCH_SCALE_MISTAKES,
}
TABLE_ROWS = [(e, name, f) for e, table in TABLES.items() for name, f in table.items()]


@pytest.mark.parametrize(("exercise_id", "name", "mistake"), TABLE_ROWS,
                         ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(TABLE_ROWS)])
def test_every_mistake_in_the_tables_is_recognized_as_itself(exercise_id, name, mistake) -> None:
    """No mistake is shadowed by another, and none is accepted as correct."""
    if exercise_id == "peri_ln_block":
        base = mistake

        def mistake(x, layer):
            with torch.no_grad():
                return base(x, layer)
    assert check(exercise_id, mistake) == f"Not correct: {exercise_id} {name}."


def test_every_exercise_checked_by_running_has_a_mistake_table() -> None:
    implement = {e.id for e in EXERCISES if e.kind == "implement"}
    # the capstone is checked by building the reader's class: its mistakes are classes, above
    assert implement - set(TABLES) == {"capstone"}
    assert set(TABLES) - implement == {"score_variance", "layernorm_spectrum", "branch_scale"}


FORMULAS = [
    ("layernorm_formula", r"y_i = \gamma_i \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta_i",
     r"y_i = \gamma_i \frac{x_i - \mu}{\sigma + \epsilon} + \beta_i", "epsilon outside"),
    ("softmax_formula", r"\frac{\exp(z_i)}{\sum_{k=1}^{n} \exp(z_k)}",
     r"\frac{e^{z_i}}{1 + \sum_{k=1}^{n} e^{z_k}}", "extra 1"),
    ("attention_formula", r"\mathrm{softmax}(Q K^\top / \sqrt{d_k}) V",
     r"\mathrm{softmax}(Q K^\top) V", "scal"),
    ("score_variance", r"d_k", r"\sqrt{d_k}", "standard deviation"),
    ("layernorm_spectrum", r"\frac{\epsilon}{\sigma^2 + \epsilon}", r"0", "epsilon = 0"),
    ("branch_scale", r"N^{-1/2}", r"\frac{1}{N}", "1/N"),
    ("preln_formula", r"y = x + \mathrm{SA}(\mathrm{LN}_1(x)), \mathrm{out} = y + "
     r"\mathrm{FFN}(\mathrm{LN}_2(y))", r"y = \mathrm{LN}_1(x + \mathrm{SA}(x)), \mathrm{out} "
     r"= \mathrm{LN}_2(y + \mathrm{FFN}(y))", "Post-LN"),
]


@pytest.mark.parametrize(("exercise_id", "right", "wrong", "name"), FORMULAS,
                         ids=[f[0] for f in FORMULAS])
def test_formula_answers_go_to_check_formula(exercise_id, right, wrong, name) -> None:
    """Written another way than the worked solution (mu and sigma, exp, a power), a formula is
    accepted; a classic wrong one is named; a formula that cannot be read gets one line."""
    assert BY_ID[exercise_id].claim is not None
    verdict = check(exercise_id, right)
    assert verdict.startswith("Correct: equal to"), verdict
    verdict = check(exercise_id, wrong)
    assert verdict.startswith("Not correct:") and name in verdict, verdict
    verdict = check(exercise_id, r"\frac{1}{")
    assert verdict.startswith("Cannot check") and "\n" not in verdict, verdict


def test_every_derive_exercise_names_a_claim_that_takes_a_formula() -> None:
    from verified_transformer.claims import get

    derive = [e for e in EXERCISES if e.kind == "derive"]
    assert derive and all(e.claim and get(e.claim).takes for e in derive)
    assert {e.id for e in derive} == {f[0] for f in FORMULAS} | {"postln_formula"}


# Crashes, wrong types and shapes, unknown ids ----------------------------------------------------


def test_a_crashing_candidate_gets_one_line() -> None:
    def crashes(x, weight, bias, eps):
        return x / 0 + undefined_name  # noqa: F821

    verdict = check("layer_norm_2d", crashes)
    assert verdict.startswith(
        "layer_norm_2d raised NameError: name 'undefined_name' is not defined")
    assert "\n" not in verdict and "Traceback" not in verdict

    def long_message(x, dim):
        raise ValueError("first line\n" + "x" * 1000)

    verdict = check("log_softmax", long_message)
    assert "ValueError: first line" in verdict and "\n" not in verdict and len(verdict) < 400


def test_wrong_return_type_and_shape_get_a_clear_sentence() -> None:
    verdict = check("log_softmax", lambda x, dim: x.tolist())
    assert "returned a list" in verdict and "expected a tensor" in verdict
    verdict = check("log_softmax", lambda x, dim: torch.log_softmax(x, dim).sum(dim))
    assert "returned shape" in verdict and "expected shape" in verdict
    verdict = check("log_softmax", lambda x, dim: torch.log_softmax(x.float(), dim))
    assert "returned dtype float32" in verdict and "expected float64" in verdict
    verdict = check("noam_lr", lambda step, d, w: torch.tensor(1.0))
    assert "returned a Tensor" in verdict and "expected a float" in verdict
    verdict = check("layer_norm_2d", lambda x, weight, bias, eps: None)
    assert "returned None" in verdict and "expected a tensor" in verdict, verdict
    verdict = check("attention", 3)
    assert verdict.startswith("Cannot check: the answer to this exercise is a function")


def test_an_unknown_difference_shows_both_outputs() -> None:
    verdict = check("log_softmax", lambda x, dim: torch.log_softmax(x, dim) + 1e-3)
    assert verdict.startswith("Not correct: log_softmax differs on x of shape (5,)")
    assert "expected [" in verdict and "instead of" in verdict


def test_unknown_id_lists_the_known_ids() -> None:
    with pytest.raises(KeyError) as info:
        check("layernorm", ln_var)
    message = str(info.value)
    assert "unknown exercise 'layernorm'" in message
    assert all(e.id in message for e in EXERCISES)


def test_the_candidate_cannot_change_the_inputs_of_later_cases() -> None:
    def in_place(x, weight, bias, eps):
        out = F.layer_norm(x, x.shape[-2:], weight, bias, eps)
        x.zero_()
        return out

    assert check("layer_norm_2d", in_place).startswith("Correct:")


# Predict exercises: exactly one option is what happens ----------------------------------------

PREDICT = [e for e in EXERCISES if e.kind == "predict"]
NUMERIC = ("mha_parameters", "residual_paths", "decoder_parameters", "warmup_lr")
LETTERED = [e for e in PREDICT if e.id not in NUMERIC]


@pytest.mark.parametrize("exercise", LETTERED, ids=lambda e: e.id)
def test_exactly_one_letter_is_correct(exercise) -> None:
    """One letter is correct; a wrong one gets the mistake in that option and an invitation
    to try again, never the right letter (a retry is still worth making)."""
    verdicts = {letter: check(exercise.id, letter) for letter in "abcd"}
    correct = [letter for letter, v in verdicts.items() if v.startswith("Correct:")]
    assert len(correct) == 1, verdicts
    for letter, verdict in verdicts.items():
        if letter in correct:
            continue
        assert verdict.startswith(f"Not what happens: ({letter}) "), verdict
        assert verdict.endswith("Try another letter."), verdict
        assert f"({correct[0]})" not in verdict, verdict
    assert check(exercise.id, correct[0].upper()).startswith("Correct:")
    assert check(exercise.id, "z").startswith("Cannot check: answer with one of the letters")
    assert check(exercise.id, 1).startswith("Cannot check")


def test_numeric_predictions_are_computed() -> None:
    counts = tuple(sum(p.numel() for p in nn.MultiheadAttention(512, h).parameters())
                   for h in (8, 16))
    assert counts == (4 * 512 * 512 + 4 * 512,) * 2
    assert check("mha_parameters", counts).startswith("Correct.")
    verdict = check("mha_parameters", (counts[0], counts[0] // 2))
    assert verdict.startswith("Not what happens") and "heads" in verdict
    assert f"{counts[0]:,}" not in verdict  # a wrong answer does not get the count
    assert check("mha_parameters", [1, 2]).startswith("Cannot check")
    assert check("residual_paths", (2**6, math.comb(6, 2))).startswith("Correct.")
    verdict = check("residual_paths", (6, 2))
    assert verdict.startswith("Not what happens") and "64" not in verdict
    assert predictions.residual_path_counts(3) == (8, 3)


def test_decoder_parameters_and_warmup_lr() -> None:
    layers_ = [nn.TransformerEncoderLayer(512, 8, 2048), nn.TransformerDecoderLayer(512, 8, 2048)]
    encoder, decoder = (sum(p.numel() for p in m.parameters()) for m in layers_)
    assert check("decoder_parameters", (encoder, decoder)).startswith("Correct.")
    verdict = check("decoder_parameters", (encoder, encoder))
    assert "cross-attention" in verdict and f"{decoder:,}" not in verdict
    rates = (128**-0.5 * 150 * 500**-1.5, 128**-0.5 / math.sqrt(1500))
    assert check("warmup_lr", rates).startswith("Correct.")
    verdict = check("warmup_lr", (128**-0.5 / math.sqrt(150), rates[1]))
    assert "still warming up" in verdict and "the rate at step 1500 is right" in verdict
    assert check("warmup_lr", (1, 2, 3)).startswith("Cannot check")


def test_two_number_feedback_says_which_number_is_right() -> None:
    """A pair with one right number is told which one, and never the other's value."""
    encoder, decoder = predictions.layer_parameter_counts()
    verdict = check("decoder_parameters", (encoder, decoder + 1))
    assert "the encoder layer's count is right, the decoder layer's count is not" in verdict
    assert f"{decoder:,}" not in verdict and str(decoder) not in verdict
    assert check("decoder_parameters", (1, 2)).startswith("Not what happens: neither number")


def test_a_wrong_tuple_of_tensors_is_reported_element_by_element() -> None:
    def int32_labels(targets, vocab):
        decoder_input, labels = teacher_forcing_slices(targets, vocab)
        return decoder_input, labels.int()

    def one_label_off(targets, vocab):
        decoder_input, labels = teacher_forcing_slices(targets, vocab)
        return decoder_input, labels.masked_fill(labels == -100, -1)

    verdict = check("teacher_forcing", int32_labels)
    assert verdict.startswith("Not correct: teacher_forcing(...)[1] returned dtype int32"), verdict
    verdict = check("teacher_forcing", one_label_off)
    assert "teacher_forcing(...)[1] differs" in verdict and "-1 instead of -100" in verdict
    assert "first difference at index (0, 8)" in verdict, verdict
    verdict = check("teacher_forcing", lambda t, v: teacher_forcing_slices(t, v)[:1])
    assert "returned a tuple of 1" in verdict and "expected a tuple of 2" in verdict


def test_the_padded_labels_are_what_cross_entropy_skips() -> None:
    """With the reference labels, cross_entropy averages over the real tokens only."""
    targets, vocab = ["1969-07", "2026-12-01", "1900"], list(translation.TARGET_VOCAB)
    decoder_input, labels = translation.teacher_forcing_reference(targets, vocab)
    logits = torch.randn(*labels.shape, len(vocab), generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64)
    real = labels != -100
    assert int(real.sum()) == sum(len(t) + 1 for t in targets)
    expected = F.cross_entropy(logits[real], labels[real])
    assert torch.allclose(F.cross_entropy(logits.flatten(0, 1), labels.flatten()), expected)
    assert (decoder_input[:, 0] == vocab.index("<s>")).all()


def test_minor_answers_get_named() -> None:
    verdict = check("capstone", RepairedLayer(8, 2, 16, 0.0))
    assert verdict.startswith("Cannot check: pass the class"), verdict
    assert check("layernorm_formula", 5).startswith("Cannot check: the answer is a formula")


def test_gradient_depth_states_its_setting() -> None:
    """The answer depends on the read-out's number of classes (chapter 6 shows the other trend
    with 16): the task states 1,024, the default the checker measures with."""
    import inspect

    from verified_transformer.experiments import gradient_norms_at_init

    default = inspect.signature(gradient_norms_at_init).parameters["num_classes"].default
    assert default == 1024
    markdown = "\n".join(c.source for c in _notebook(6).cells if c.cell_type == "markdown")
    assert "**1,024 classes**" in markdown


def test_no_stored_wrong_attempt_reveals_an_answer() -> None:
    """Outside the collapsed solutions, a page stores wrong attempts only, and their feedback
    gives no letter and no number of the answer."""
    for chapter in CHAPTERS:
        inside = False
        for cell in _notebook(chapter).cells:
            if cell.cell_type == "markdown":
                inside = (inside or ":::{solution-start}" in cell.source) and (
                    ":::{solution-end}" not in cell.source)
            elif "check(" in cell.source and not inside:
                text = _english(cell.outputs)
                assert text.startswith("Not"), (chapter, cell.source[:60])
                assert "running it shows" not in text, text


# The registry, the notebooks and the index page ----------------------------------------------


def test_at_least_four_exercises_per_chapter_and_every_kind() -> None:
    for chapter in CHAPTERS:
        mine = [e for e in EXERCISES if e.chapter == chapter]
        assert len(mine) >= 4, chapter
        assert len({e.kind for e in mine}) >= 2, chapter
    assert {e.kind for e in EXERCISES} == set(KINDS)
    assert len(BY_ID) == len(EXERCISES)


def _notebook(chapter: int) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / f"notebooks/{chapter:02d}_exercises.ipynb", as_version=4)


def _english(outputs: list) -> str:
    """A cell's printed text in English: its streams and the English lines of ``say``."""
    return "".join(
        o.get("text", "") if o.get("output_type") == "stream"
        else o.get("data", {}).get("text/plain", "") + "\n"
        if o.get("metadata", {}).get("vt", {}).get("language") == "en" else ""
        for o in outputs)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_each_worked_solution_passes_its_checker(exercise) -> None:
    """The notebook states the exercise under its label, shows how to call the checker, and
    the solution's cell calls it and stores "Correct" (nbval re-runs that cell under make test)."""
    nb = _notebook(exercise.chapter)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(rf":label: {exercise.label}\n", markdown), exercise.label
    assert f"solution-start}} {exercise.label}\n" in markdown, exercise.label
    call = f'check("{exercise.id}", '
    assert call in markdown, f"the exercise does not show how to call {call}"
    verdicts = [
        _english(c.outputs)
        for c in nb.cells if c.cell_type == "code" and call in c.source
    ]
    assert verdicts, f"no code cell calls {call}"
    lines = [line for v in verdicts for line in v.splitlines()]
    assert any(line.startswith("Correct") for line in lines), verdicts


def test_the_index_page_is_current() -> None:
    """Fails when book/appendix_exercises.md differs from what the registry generates:
    regenerate with ``python -m verified_transformer.exercises --markdown
    book/appendix_exercises.md``."""
    assert PAGE.read_text(encoding="utf-8") == markdown_page(EXERCISES)


def test_the_index_page_links_every_exercise() -> None:
    page = markdown_page(EXERCISES)
    for e in EXERCISES:
        assert f"<{e.label}>" in page and f"| {e.kind} |" in page
    assert exercises.__doc__ and "$$" not in page


def test_the_key_padding_reference_is_what_multihead_attention_ignores() -> None:
    """With the reference mask, each padded sequence's real tokens get the output of the same
    sequence without its padding: True really is "ignore this key" for nn.MultiheadAttention."""
    lengths = torch.tensor([3, 1, 4])
    mask = attention.key_padding_mask_reference(lengths, 4)
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64).eval()
    x = torch.randn(3, 4, 8, dtype=torch.float64)
    with torch.no_grad():
        padded = mha(x, x, x, key_padding_mask=mask)[0]
        for n, length in enumerate(lengths.tolist()):
            alone = x[n:n + 1, :length]
            expected = mha(alone, alone, alone)[0][0]
            assert torch.allclose(padded[n, :length], expected, atol=1e-12)


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_no_stored_verdict_is_a_failure_to_check(chapter) -> None:
    """Every candidate a page feeds the checker is readable: a worked solution or a
    demonstrated mistake, never a "Cannot check" (a typo in a solution's formula) or a crash."""
    nb = _notebook(chapter)
    for cell in nb.cells:
        if cell.cell_type == "code" and "check(" in cell.source:
            text = _english(cell.outputs)
            assert text.strip(), f"a checker cell stores no verdict: {cell.source[:80]}"
            for line in text.splitlines():
                assert not line.startswith("Cannot check") and " raised " not in line, line
