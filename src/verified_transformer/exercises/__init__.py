r"""Exercises with checked answers: every chapter 2-6 ends with some, and this package checks them.

``check(exercise_id, candidate)`` runs a reader's answer and answers in one or two sentences:
correct; or the known mistake it makes (recognized by running an implementation of that
mistake on the same inputs); or the first input on which it differs, with both outputs. A
candidate that raises gets its exception in one line. :data:`EXERCISES` is the registry (id,
chapter, kind, title, checker), the one source of the exercise pages' checkers and of the
index page (``python -m verified_transformer.exercises --markdown PATH``).

Kinds: ``derive`` (a formula, checked by the claims ledger's ``check_formula``; some also take
the derived quantity as a Python function, compared with an independent computation), ``implement``
(a function, or for the capstone a class, run against our code and torch on a few shapes and
dtypes) and ``predict`` (a prediction, compared with what running the experiment shows, or with a
stored artifact). A wrong prediction gets the mistake in the reasoning that leads to it, never the
right letter or number, so that the reader can try again.

The implement tasks carry an idea of their chapter somewhere new (LayerNorm over two dimensions,
log-softmax, heads that share keys and values, a Peri-LN block, a causal mask with a window, the
article's layer repaired) rather than re-type code the chapter prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verified_transformer.exercises import (
    attention,
    layers,
    normalization,
    predictions,
    residuals,
    schedules,
    translation,
)
from verified_transformer.exercises.formulas import formula_checker, formula_or_function

KINDS = ("derive", "implement", "predict")
CHAPTERS = {
    2: "Core concepts",
    3: "The algorithm step by step",
    4: "Mathematical models and formulas",
    5: "Code in practice",
    6: "Applications",
}


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it is, what kind, and the function that checks an answer."""

    id: str
    chapter: int
    kind: str
    title: str
    checker: Callable[[Any], str]
    # for derive exercises: the ledger claim whose check_formula decides a formula answer (some
    # also take a Python function, which their own checker runs)
    claim: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r} is not one of {KINDS}")
        if self.chapter not in CHAPTERS:
            raise ValueError(f"chapter: {self.chapter} is not one of {sorted(CHAPTERS)}")
        if self.claim is not None and self.kind != "derive":
            raise ValueError(f"claim: exercise {self.id!r} of kind {self.kind!r} names a claim; "
                             "only derive exercises are checked by check_formula")

    @property
    def page(self) -> str:
        """The notebook that holds it, as listed in ``_toc.yml``."""
        return f"notebooks/{self.chapter:02d}_exercises"

    @property
    def label(self) -> str:
        """Its sphinx-exercise label (``ex-`` and the id with dashes)."""
        return "ex-" + self.id.replace("_", "-")


def _derive(id: str, chapter: int, title: str, claim: str) -> Exercise:
    return Exercise(id, chapter, "derive", title, formula_checker(claim), claim)


EXERCISES: tuple[Exercise, ...] = (
    # Chapter 2: LayerNorm and residual connections
    Exercise("layer_norm_2d", 2, "implement", "LayerNorm over the last two dimensions",
             normalization.check_layer_norm_2d),
    Exercise("rms_norm", 2, "implement", "RMSNorm", normalization.check_rms_norm),
    _derive("layernorm_formula", 2, "LayerNorm as a formula", "layernorm.definition"),
    Exercise("layernorm_invariance", 2, "predict", "Which changes of the input leave LayerNorm "
             "unchanged?", predictions.check_layernorm_invariance),
    Exercise("token_dependence", 2, "predict", "Does one token move the others? LayerNorm "
             "against BatchNorm", predictions.check_token_dependence),
    # Chapter 3: multi-head attention and the layer, step by step
    Exercise("log_softmax", 3, "implement", "Log-softmax that never overflows",
             attention.check_log_softmax),
    Exercise("grouped_query_attention", 3, "implement", "Heads that share keys and values",
             attention.check_grouped_query_attention),
    Exercise("attention", 3, "implement", "Scaled dot-product attention",
             attention.check_attention),
    _derive("attention_formula", 3, "Attention as a formula",
            "attention.scaled_dot_product_definition"),
    Exercise("peri_ln_block", 3, "implement", "A Peri-LN block from its parts",
             layers.check_peri_ln_block),
    _derive("postln_formula", 3, "The Post-LN layer as equations", "postln.definition"),
    Exercise("mha_parameters", 3, "predict", "How many parameters has multi-head attention?",
             predictions.check_mha_parameters),
    Exercise("decoder_parameters", 3, "predict", "How many parameters has a decoder layer?",
             predictions.check_decoder_parameters),
    # Chapter 4: the mathematics
    _derive("softmax_formula", 4, "Softmax from its two properties", "softmax.definition"),
    Exercise("score_variance", 4, "derive", "The variance of q · k",
             formula_or_function("attention.dot_product_variance", attention.check_score_variance),
             "attention.dot_product_variance"),
    Exercise("scale_outside_exp", 4, "predict", "Why the scale must sit inside the exponential",
             predictions.check_scale_outside_exp),
    Exercise("softmax_jacobian", 4, "implement", "The softmax Jacobian",
             attention.check_softmax_jacobian),
    Exercise("layer_norm_jacobian", 4, "implement", "The LayerNorm Jacobian",
             normalization.check_layer_norm_jacobian),
    Exercise("layernorm_spectrum", 4, "derive", "The eigenvalues of the LayerNorm Jacobian",
             formula_or_function("layernorm.jacobian_spectrum",
                                 normalization.check_layernorm_spectrum),
             "layernorm.jacobian_spectrum"),
    Exercise("residual_paths", 4, "predict", "How many paths through a residual stack?",
             predictions.check_residual_paths),
    # Chapter 5: code in practice
    Exercise("window_mask", 5, "implement", "A causal mask with a window",
             attention.check_window_mask),
    Exercise("key_padding_mask", 5, "implement", "A key padding mask",
             attention.check_key_padding_mask),
    Exercise("capstone", 5, "implement", "Capstone: the article's layer, repaired",
             layers.check_capstone),
    _derive("preln_formula", 5, "The Pre-LN layer as equations", "preln.definition"),
    Exercise("float_mask", 5, "predict", "What does a 0/1 float mask do?",
             predictions.check_float_mask),
    Exercise("bool_mask", 5, "predict", "One boolean mask, two conventions",
             predictions.check_bool_mask),
    # Chapter 6: applications (and 6b, the translation model)
    Exercise("gradient_depth", 6, "predict", "The last layer's gradient with scaled branches",
             predictions.check_gradient_depth),
    Exercise("saturation", 6, "predict", "Scores divided by d_k instead of its square root",
             predictions.check_saturation),
    Exercise("positions_at_init", 6, "predict", "A deeper residual stack, untrained",
             predictions.check_positions_at_init),
    Exercise("noam_lr", 6, "implement", "The warm-up learning-rate schedule",
             schedules.check_noam_lr),
    Exercise("branch_scale", 6, "derive", "Scaling N residual branches",
             formula_or_function("residual.scaled_init", residuals.check_branch_scale),
             "residual.scaled_init"),
    Exercise("teacher_forcing", 6, "implement", "Decoder input and labels for a padded batch",
             translation.check_teacher_forcing),
    Exercise("greedy_decode", 6, "implement", "A greedy decoder for the date translator",
             translation.check_greedy_decode),
    Exercise("cross_attention_row", 6, "predict", "Where does a month digit look?",
             predictions.check_cross_attention_row),
    Exercise("warmup_lr", 6, "predict", "The learning rate of a wider translator",
             predictions.check_warmup_lr),
)
BY_ID: dict[str, Exercise] = {e.id: e for e in EXERCISES}
if len(BY_ID) != len(EXERCISES):
    raise RuntimeError("exercises: duplicate exercise ids in the registry")


def get(exercise_id: str) -> Exercise:
    """The exercise with this id (``KeyError`` listing the known ids otherwise)."""
    try:
        return BY_ID[exercise_id]
    except (KeyError, TypeError):
        raise KeyError(
            f"exercise_id: unknown exercise {exercise_id!r}; known: {', '.join(BY_ID)}"
        ) from None


def check(exercise_id: str, candidate: Any) -> str:
    """Check ``candidate`` against exercise ``exercise_id``; one or two sentences.

    ``KeyError`` (listing the known ids) for an unknown id; a candidate that raises, returns the
    wrong type or shape, or is no function at all gets a sentence, never an exception.
    """
    return get(exercise_id).checker(candidate)


__all__ = ["BY_ID", "CHAPTERS", "EXERCISES", "KINDS", "Exercise", "check", "get"]
