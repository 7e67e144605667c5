r"""What the book concludes from each stored experiment, and the registry of the experiments.

Each :class:`~verified_transformer.experiments.artifacts.Experiment` pairs a function that
computes a result (in :mod:`chapter6`, :mod:`ablation` or :mod:`translation`, whose source files
are hashed into the artifact) with a function here that turns the stored result into the
statements the chapters print. Conclusions are kept apart from the hashed code on purpose: they
are recomputed from a stored result (``python -m verified_transformer.experiments conclude``)
without training again, and ``tests/test_artifacts.py`` checks that the stored ones are what this
module concludes today.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from verified_transformer.experiments import ablation, chapter6, translation
from verified_transformer.experiments.artifacts import Experiment, register
from verified_transformer.experiments.robustness import final_loss, loss_verdict, trained
from verified_transformer.experiments.training import TASK

CHANCE = math.log(TASK["vocab_size"])

# --- chapter 6: gradients at initialization, warm-up -----------------------------------------


def last_layer_means(result: dict[str, Any]) -> dict[str, list[float]]:
    """Mean over the seeds of the last layer's norm, for each depth."""
    return {name: [statistics.fmean(run[-1] for run in per_depth) for per_depth in norms]
            for name, norms in result["norms"].items()}


def per_layer_means(result: dict[str, Any]) -> dict[str, list[float]]:
    """Mean over the seeds of each layer's norm in the deepest stacks."""
    return {name: [statistics.fmean(col) for col in zip(*norms[-1], strict=True)]
            for name, norms in result["norms"].items()}


def gradients_conclusions(result: dict[str, Any]) -> dict[str, Any]:
    last, layers = last_layer_means(result), per_layer_means(result)
    ratio = {name: values[-1] / values[0] for name, values in last.items()}
    many, few = result["depth_ratio"]["1024"], result["depth_ratio"]["16"]
    return {
        "Pre-LN: the last layer's norm shrinks from 2 to 12 layers (ratio below 0.6)":
            ratio["Pre-LN"] < 0.6,
        "Post-LN: the last layer's norm stays level from 2 to 12 layers (ratio 0.8 to 1.25)":
            0.8 < ratio["Post-LN"] < 1.25,
        "Pre-LN, 12 layers: the first layer's norm is over 1.5 times the last layer's":
            layers["Pre-LN"][0] > 1.5 * layers["Pre-LN"][-1],
        "Post-LN, 12 layers: every layer within a factor 1.5 of every other":
            max(layers["Post-LN"]) < 1.5 * min(layers["Post-LN"]),
        "1024 classes, 41 seeds: Post-LN's 12/2-layer ratio is within 0.1 of 1":
            abs(many["Post-LN"] - 1) < 0.1,
        "1024 classes, 41 seeds: Pre-LN's 12/2-layer ratio is within 0.05 of sqrt(2/12)":
            abs(many["Pre-LN"] - math.sqrt(2 / 12)) < 0.05,
        "16 classes, 41 seeds: Post-LN's ratio is above 1.4 and Pre-LN's above 0.5":
            few["Post-LN"] > 1.4 and few["Pre-LN"] > 0.5,
    }


def some_or_all(losses: list[float]) -> str:
    """``"all"``, ``"some, not all"`` or ``"none"`` of the runs :func:`trained`."""
    count = sum(map(trained, losses))
    return "all" if count == len(losses) else "some, not all" if count else "none"


def warmup_conclusions(result: dict[str, Any]) -> dict[str, Any]:
    curves, finals = result["curves"], result["finals"]
    seeds = f"seeds {result['warmup_seeds'][0]} to {result['warmup_seeds'][-1]}"
    lr_seeds = f"seeds {result['lr_seeds'][0]} to {result['lr_seeds'][-1]}"
    return {
        "every run starts within 0.3 nats of the chance level ln 8":
            all(abs(c[0] - CHANCE) < 0.3 for c in curves.values()),
        **{f"{label}, seed 0, mean of the last 10 steps": loss_verdict(final_loss(curve))
           for label, curve in curves.items()},
        **{f"{label}, {seeds}: runs that trained": sum(map(trained, losses))
           for label, losses in finals.items()},
        **{f"Post-LN, no warm-up, {key.replace(', ', ' layers, learning rate ')}, {lr_seeds}: "
           "runs that trained": some_or_all(list(losses.values()))
           for key, losses in result["no_warmup"].items()},
    }


# --- chapter 6: the ablation -------------------------------------------------------------------

#: Verdicts on an ablation run's validation loss after its last step (nats per target character,
#: 11 target characters): "learned" below 0.5, where the format, the year and the day are right
#: and the month mostly; "failed" above 1.5, where not even the copied digits are.
LEARNED_BELOW, FAILED_ABOVE = 0.5, 1.5


def verdict(record: dict[str, Any]) -> str:
    """An ablation run in words: ``"diverged"`` (a non-finite loss), ``"learned"`` (validation
    loss below :data:`LEARNED_BELOW`), ``"failed"`` (above :data:`FAILED_ABOVE`) or
    ``"partly"``."""
    if record["diverged"] or record["val_loss"] is None or not math.isfinite(record["val_loss"]):
        return "diverged"
    if record["val_loss"] < LEARNED_BELOW:
        return "learned"
    return "failed" if record["val_loss"] > FAILED_ABOVE else "partly"


def ablation_cells(result: dict[str, Any]) -> dict[tuple[str, int, float], list[str]]:
    """The :func:`verdict` of each seed of every (variant, layers, learning rate) cell."""
    cells: dict[tuple[str, int, float], list[str]] = {}
    for run in result["runs"]:
        cells.setdefault((run["variant"], run["layers"], run["lr"]), []).append(verdict(run))
    return cells


def ablation_conclusions(result: dict[str, Any]) -> dict[str, Any]:
    """Chapter 6's statements about the grid (counts of runs, of the three seeds per cell), then
    the number of seeds that learned in every cell."""
    cells = ablation_cells(result)
    config = result["config"]
    seeds, low, high = len(config["seeds"]), min(config["learning_rates"]), max(
        config["learning_rates"])
    middle = sorted(config["learning_rates"])[len(config["learning_rates"]) // 2]
    deep = [d for d in config["depths"] if d >= 6]

    def count(variant: str, what: str, layers: list[int], rates: list[float]) -> int:
        return sum(cells[(variant, d, lr)].count(what) for d in layers for lr in rates)

    def peak_logit(variant: str) -> float:
        return max(max(x for x in run["max_logit"] if x is not None) for run in result["runs"]
                   if run["variant"] == variant and run["lr"] == high and run["layers"] in deep)

    normalized = [v for v in config["variants"] if v not in ("no norm", "Pre-LN, no residual")]
    others = [v for v in normalized if v != "Pre-LN, QK-norm"]
    every = config["depths"]
    return {
        "without residual connections, 6 and 12 layers: runs that learned":
            count("Pre-LN, no residual", "learned", deep, config["learning_rates"]),
        "without normalization, 12 layers: runs that learned":
            count("no norm", "learned", [max(every)], config["learning_rates"]),
        f"without normalization, 12 layers, learning rate {high:g}: runs that diverged":
            count("no norm", "diverged", [max(every)], [high]),
        f"Post-LN, 6 and 12 layers, learning rate {high:g}: runs that learned":
            count("Post-LN", "learned", deep, [high]),
        f"Pre-LN, learning rate {middle:g}, every depth: runs that learned":
            count("Pre-LN", "learned", every, [middle]),
        f"12 layers, learning rate {high:g}: runs that learned with Pre-LN":
            count("Pre-LN", "learned", [max(every)], [high]),
        f"12 layers, learning rate {high:g}: runs that learned with Pre-LN and QK-norm":
            count("Pre-LN, QK-norm", "learned", [max(every)], [high]),
        f"Peri-LN, 6 layers, learning rate {high:g}: runs that learned":
            count("Peri-LN", "learned", [6], [high]),
        f"Pre-LN with DyT: runs that learned within {config['steps']} steps":
            count("Pre-LN, DyT", "learned", every, config["learning_rates"]),
        f"learning rate {high:g}, 6 and 12 layers: largest attention logit with QK-norm":
            round(peak_logit("Pre-LN, QK-norm")),
        f"learning rate {high:g}, 6 and 12 layers: smallest largest attention logit of the "
        "other normalized variants": round(min(map(peak_logit, others))),
        f"no variant learned in more runs at learning rate {low:g} than at {middle:g}":
            all(count(v, "learned", every, [low]) <= count(v, "learned", every, [middle])
                for v in config["variants"]),
        **{f"{variant}, {layers} layers, learning rate {lr:g}: seeds that learned (of {seeds})":
           verdicts.count("learned") for (variant, layers, lr), verdicts in cells.items()},
    }


# --- chapter 6b: the date translator -------------------------------------------------------------


def map_reads(text: str, weights: Sequence[Sequence[float]], rows: range) -> list[str]:
    """The source character that each output row in ``rows`` attends to most."""
    return [text[max(range(len(text)), key=lambda j, t=t: weights[t][j])] for t in rows]


def map_facts(text: str, out: str, weights: Sequence[Sequence[float]]) -> dict[str, bool]:
    """What chapter 6b reads off a cross-attention map of ``text -> out`` (output
    ``YYYY-MM-DD``: rows 0-3 the year, 5-6 the month, 8-9 the day)."""
    month = map_reads(text, weights, range(5, 7))
    before_month = text[text.index("月") - 2: text.index("月")] if "月" in text else ""
    day = out[8:].lstrip("0")
    return {
        "each year digit reads the same digit of the source":
            map_reads(text, weights, range(4)) == list(out[:4]),
        f"both day digits read the source's day, {day}":
            map_reads(text, weights, range(8, 10)) == [day[-1]] * 2,
        "both month digits read the month's name (or the digits before 月)":
            all(c in before_month or c.isalpha() for c in month),
    }


def date_translator_conclusions(result: dict[str, Any]) -> dict[str, Any]:
    final = {label: run["val_loss"][-1] for label, run in result["warmup"].items()}
    held = result["held_out"]
    count = held["count"]
    facts: dict[str, Any] = {
        f"exact-match accuracy on {count} held-out dates, at least 99 %":
            held["correct"] >= 0.99 * count,
        "without LayerNorm: exact-match accuracy at least 99 % as well":
            result["ablation"]["no LayerNorm"]["correct"] >= 0.99 * count,
        "without residual connections: exact-match accuracy below 1 %":
            result["ablation"]["no residual"]["correct"] < 0.01 * count,
        "Post-LN without warm-up ends highest": max(final, key=final.get) == "Post-LN, no warm-up",
        "Pre-LN without warm-up ends below Post-LN without warm-up":
            final["Pre-LN, no warm-up"] < final["Post-LN, no warm-up"],
        "with warm-up, Post-LN and Pre-LN end within 0.2 nats of each other":
            abs(final["Post-LN, warm-up"] - final["Pre-LN, warm-up"]) < 0.2,
    }
    for text, out, weights in zip(result["showcase"]["sources"], result["showcase"]["outputs"],
                                  result["showcase"]["maps"], strict=True):
        facts[f"{text!r} translates to"] = out
        facts.update({f"{text!r}: {fact}": value
                      for fact, value in map_facts(text, out, weights).items()})
    return facts


# --- the registry ------------------------------------------------------------------------------


def _modules(*names: str) -> tuple[str, ...]:
    return tuple(f"verified_transformer.{name}" for name in names)


_CHAPTER6 = _modules("experiments._seed", "experiments.models", "experiments.training",
                     "experiments.robustness", "experiments.chapter6")
register(Experiment(
    "gradients_at_init", chapter6.gradients_at_init, gradients_conclusions,
    _modules("experiments.gradients") + _CHAPTER6,
    "gradient norms at initialization, Post-LN and Pre-LN, 2-12 layers (chapter 6)"))
register(Experiment(
    "warmup", chapter6.warmup, warmup_conclusions, _CHAPTER6,
    "Post-LN and Pre-LN with and without warm-up, 12 layers, several seeds (chapter 6)"))
register(Experiment(
    "ablation", ablation.ablation_experiment, ablation_conclusions,
    _modules("experiments._seed", "nn.functional", "nn.normalization", "nn.variants",
             "experiments.ablation"),
    "seven placements of the normalization, 2-12 layers, three learning rates (chapter 6)"))
register(Experiment(
    "date_translator", translation.date_translator_experiment, date_translator_conclusions,
    _modules("experiments._seed", "experiments.translation"),
    "the date translator of chapter 6b: weights, history, accuracy, ablations, maps, warm-up"))
