r"""Experiments computed once, by ``make experiments``, and stored as small committed artifacts.

A training run depends on the CPU it runs on: its kernels round differently in the last bits
(vector width, BLAS code path, thread count), and training amplifies those differences until
another machine trains another model. So the book does not train in its notebooks. Each
:class:`Experiment` is run by ``make experiments`` (``python -m verified_transformer.experiments``)
into ``src/verified_transformer/artifacts/<name>/``:

* ``result.json``: the numbers, the **conclusions** the book draws from them (short statements
  with their values, printed by the chapters), and the **provenance**: the SHA-256 of the
  experiment's source files, the command, the library versions and the CPU;
* ``weights.pt``, where a chapter needs a trained model: its ``state_dict`` (``torch.save``).

Chapters :func:`load` the artifacts; ``tests/test_artifacts.py`` fails when an artifact's recorded
source hash no longer matches its code (run ``make experiments``), and re-runs a cheap slice of
every experiment on the machine at hand to check that the book's statements about it still hold.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib
import inspect
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

#: Where the artifacts live: one folder per experiment, shipped with the package.
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
#: The environment variables that select CPU code paths; recorded when set.
CPU_SWITCHES = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA",
                "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Experiment:
    """One experiment: ``run()`` returns ``(result, weights)``, a JSON-able dict and a
    ``state_dict`` or None; ``conclusions(result)`` the statements the book draws from it, a
    dict from statement to a bool, int or short string (kept in
    :mod:`~verified_transformer.experiments.findings`); ``modules`` the modules whose source
    files are hashed into the provenance: the code that computes the result."""

    name: str
    run: Callable[[], tuple[dict[str, Any], dict[str, torch.Tensor] | None]]
    conclusions: Callable[[dict[str, Any]], dict[str, Any]]
    modules: tuple[str, ...]
    description: str


EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to :data:`EXPERIMENTS` (names are unique)."""
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"an experiment named {experiment.name!r} is already registered")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def _all() -> dict[str, Experiment]:
    """:data:`EXPERIMENTS`, after importing the modules that register them."""
    from verified_transformer.experiments import findings  # noqa: F401 (registers them)

    return EXPERIMENTS


def get(name: str) -> Experiment:
    """The registered experiment ``name`` (KeyError lists the known names)."""
    experiments = _all()
    if name not in experiments:
        raise KeyError(f"no experiment {name!r}; known: {sorted(experiments)}")
    return experiments[name]


def source_files(experiment: Experiment) -> list[Path]:
    """The source files of ``experiment.modules``, in order."""
    return [Path(inspect.getfile(importlib.import_module(m))) for m in experiment.modules]


def source_hash(experiment: Experiment) -> str:
    """SHA-256 over the experiment's source files (name and bytes of each, in order)."""
    digest = hashlib.sha256()
    for path in source_files(experiment):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def machine() -> dict[str, Any]:
    """What the numbers depend on: the CPU as torch sees it and the switches that change its
    code paths (no system file is read)."""
    return {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "switches": {k: os.environ[k] for k in CPU_SWITCHES if k in os.environ},
    }


def versions() -> dict[str, str]:
    """Python's and the numerically relevant libraries' versions."""
    import numpy

    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "platform": platform.platform(terse=True)}


def _path(name: str, file: str) -> Path:
    return ARTIFACTS / name / file


def load(name: str) -> dict[str, Any]:
    """The stored artifact ``name``: ``{"experiment", "description", "result", "conclusions",
    "provenance"}``. FileNotFoundError says to run ``make experiments``."""
    path = _path(name, "result.json")
    if not path.is_file():
        raise FileNotFoundError(
            f"no artifact {name!r} ({path.name} missing): run `make experiments`")
    return json.loads(path.read_text(encoding="utf-8"))


def load_weights(name: str) -> dict[str, torch.Tensor]:
    """The stored ``state_dict`` of artifact ``name``, after checking its SHA-256 against the
    one its ``result.json`` records."""
    path = _path(name, "weights.pt")
    recorded = load(name)["provenance"].get("weights_sha256")
    if recorded is None or not path.is_file():
        raise FileNotFoundError(f"artifact {name!r} has no weights: run `make experiments`")
    if hashlib.sha256(path.read_bytes()).hexdigest() != recorded:
        raise ValueError(f"{name}/weights.pt does not match the hash in its result.json: "
                         "run `make experiments`")
    return torch.load(path, weights_only=True)


def stale(name: str) -> str | None:
    """Why artifact ``name`` no longer matches its code (None when it does)."""
    experiment = get(name)
    try:
        recorded = load(name)["provenance"]["source_sha256"]
    except FileNotFoundError as error:
        return str(error)
    if recorded != source_hash(experiment):
        files = ", ".join(str(p.name) for p in source_files(experiment))
        return (f"artifact {name!r} was made by other code than today's ({files}): "
                "run `make experiments` and reread what the book says about it")
    return None


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def run(name: str, command: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run experiment ``name``, write its artifact, and return the new conclusions with the old
    ones (None if there was no artifact)."""
    experiment = get(name)
    try:
        old = load(name)["conclusions"]
    except FileNotFoundError:
        old = None
    start = time.monotonic()
    result, weights = experiment.run()
    seconds = time.monotonic() - start
    result = _finite(result)
    conclusions = experiment.conclusions(result)
    folder = ARTIFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    provenance = {
        "source_sha256": source_hash(experiment),
        "sources": [f"{m} ({p.name})" for m, p in zip(experiment.modules, source_files(experiment),
                                                      strict=True)],
        "command": command,
        "versions": versions(),
        "cpu": machine(),
        "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(seconds, 1),
    }
    weights_path = folder / "weights.pt"
    if weights is not None:
        torch.save({k: v.detach().clone().contiguous() for k, v in weights.items()},
                   weights_path)
        provenance["weights_sha256"] = hashlib.sha256(weights_path.read_bytes()).hexdigest()
    elif weights_path.exists():
        weights_path.unlink()
    artifact = {"experiment": name, "description": experiment.description, "result": result,
                "conclusions": conclusions, "provenance": provenance}
    (folder / "result.json").write_text(json.dumps(artifact, indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    return conclusions, old


def main(argv: list[str]) -> int:
    """``python -m verified_transformer.experiments [run] [NAME ...]``: run the experiments
    (default: all) into their artifacts and print every conclusion that changed;
    ``check``: list the stale artifacts (exit 1 if any); ``list``: the experiments;
    ``conclude``: recompute the stored conclusions from the stored results."""
    command, *names = argv or ["run"]
    if command not in ("run", "check", "list", "conclude"):
        names, command = [command, *names], "run"
    experiments = _all()
    for name in names:
        get(name)
    names = names or list(experiments)
    if command == "list":
        for name in names:
            print(f"{name}: {experiments[name].description}")
        return 0
    if command == "check":
        problems = [p for p in map(stale, names) if p]
        print("\n".join(problems) or f"all {len(names)} artifacts match their code")
        return 1 if problems else 0
    if command == "conclude":
        for name in names:
            report(name, conclude(name))
        return 0
    total = time.monotonic()
    for name in names:
        print(f"{name}: running ({experiments[name].description})", flush=True)
        conclusions, old = run(name, "python -m verified_transformer.experiments " + " ".join(argv))
        print(f"{name}: {load(name)['provenance']['seconds']:.0f} s", end="; ")
        report(name, (conclusions, old))
    print(f"all {len(names)} experiments in {time.monotonic() - total:.0f} s; artifacts in "
          f"{ARTIFACTS.relative_to(ARTIFACTS.parents[2])}, {artifact_bytes() / 1e6:.2f} MB")
    return 0


def conclude(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Recompute the conclusions of artifact ``name`` from its stored result (after a change of
    the conclusions, not of the experiment) and store them; return the new and the old ones."""
    path = _path(name, "result.json")
    artifact = load(name)
    old = artifact["conclusions"]
    artifact["conclusions"] = get(name).conclusions(artifact["result"])
    path.write_text(json.dumps(artifact, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return artifact["conclusions"], old


def report(name: str, conclusions_and_old: tuple[dict[str, Any], dict[str, Any] | None]) -> None:
    """Print the conclusions of ``name`` that are new or changed."""
    conclusions, old = conclusions_and_old
    changed = {k: v for k, v in conclusions.items() if old is None or old.get(k) != v}
    print(f"{name}: {len(changed)} of {len(conclusions)} conclusions "
          f"{'new' if old is None else 'changed'}")
    for statement, value in changed.items():
        before = "" if old is None or statement not in old else f" (was {old[statement]})"
        print(f"    {statement}: {value}{before}")


def artifact_bytes() -> int:
    """Total size of the stored artifacts, in bytes."""
    return sum(p.stat().st_size for p in ARTIFACTS.rglob("*") if p.is_file())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
