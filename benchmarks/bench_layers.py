"""Our TransformerEncoderLayer and TransformerDecoderLayer against torch.nn's, same weights, CPU.

float32, batch 8, sequence 128, d_model 256, 8 heads, d_ff 1024, batch_first=True, torch's default
dropout 0.1. The decoder layer attends to a memory of 128 positions and gets the causal
``tgt_mask`` with ``tgt_is_causal=True``, as in autoregressive training. Two cases per layer:

* training step: ``train()`` mode, forward + backward of ``(output * grad).sum()``, the inputs
  (and the decoder's memory) requiring grad (as for a layer inside a stack), gradients reset to
  None before each step;
* inference: ``eval()`` mode under ``torch.no_grad()``. There torch's encoder layer takes its
  fused fast path (``torch._transformer_encoder_layer_fwd``), and we are measured against exactly
  that; torch's decoder layer has no such path.

Ours runs on both paths of the switch (``fused_kernels(True)`` and ``(False)``). All timed calls
are interleaved in one process: every round calls each implementation in each case of each
layer once, in a rotating order, so that load from other programs hits all of them alike.
Reported are the medians over the rounds of the wall-clock time and of the process CPU time (the
second is less disturbed when other programs share the cores). Peak memory is measured in a
fresh process per layer, implementation and case: the growth of the peak resident set (VmHWM,
reset through /proc/self/clear_refs) during one call after a warm-up call, with glibc told to
serve every block over 64 KiB by mmap, so that a freed tensor leaves the resident set at once.
The share of the matmul throughput divides the layer's matmul FLOP rate (3x the forward FLOPs for
a training step) by the best GFLOP/s of a 2048^3 float32 matmul timed in the same rounds.
Run: ``make bench`` or
``python benchmarks/bench_layers.py [--layers encoder decoder] [--rounds N] [--threads T]``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

import verified_transformer.nn as vnn

BATCH, SEQ, D_MODEL, HEADS, D_FF = 8, 128, 256, 8, 1024
IMPLEMENTATIONS = {"torch": True, "ours fused": True, "ours explicit": False}  # name: fused
CASES = {"training": True, "inference": False}  # name: training
LAYERS = {  # name: (ours, torch's)
    "encoder": (vnn.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer),
    "decoder": (vnn.TransformerDecoderLayer, torch.nn.TransformerDecoderLayer),
}


def layer_flops(batch: int, seq: int, d_model: int, d_ff: int, kind: str = "encoder") -> int:
    """Matmul FLOPs of one forward pass: projections, QK^T and AV, and the feed-forward network.

    A decoder layer adds the cross-attention (memory as long as the target): the same FLOPs as
    the self-attention again. Causal masking is not subtracted (both implementations compute
    the full score matrix on the CPU).
    """
    tokens = batch * seq
    projections = 2 * tokens * d_model * (3 * d_model + d_model)
    feed_forward = 2 * tokens * 2 * d_model * d_ff
    attention = 2 * 2 * batch * seq * seq * d_model
    attention_blocks = 2 if kind == "decoder" else 1
    return attention_blocks * (projections + attention) + feed_forward


def make_matmul(size: int = 2048) -> Callable[[], object]:
    """A ``size``-cubed float32 matmul: the reference for this machine's matmul throughput."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return lambda: a @ b


def _timed(call: Callable[[], object]) -> tuple[float, float]:
    """(wall-clock seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def build(
    name: str, dropout: float, kind: str = "encoder"
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """torch's layer and ours with the same weights; return the one called ``name`` and torch's."""
    ours_class, torch_class = LAYERS[kind]
    torch.manual_seed(0)
    options = {"dim_feedforward": D_FF, "dropout": dropout, "batch_first": True}
    reference = torch_class(D_MODEL, HEADS, **options)
    if name == "torch":
        return reference, reference
    ours = ours_class(D_MODEL, HEADS, **options)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


def layer_inputs(kind: str, training: bool) -> tuple[tuple[torch.Tensor, ...], dict[str, object]]:
    """Fixed random inputs (and call options) of a layer: ``src``, or ``tgt`` and ``memory``."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, SEQ, D_MODEL, generator=generator, requires_grad=training)
    if kind == "encoder":
        return (x,), {}
    memory = torch.randn(BATCH, SEQ, D_MODEL, generator=generator, requires_grad=training)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(SEQ)
    return (x, memory), {"tgt_mask": causal, "tgt_is_causal": True}


def make_step(
    layer: torch.nn.Module, training: bool, fused: bool, kind: str = "encoder"
) -> Callable[[], object]:
    """One training step, or one inference call, of ``layer`` on fixed random data."""
    inputs, options = layer_inputs(kind, training)
    grad = torch.randn(BATCH, SEQ, D_MODEL, generator=torch.Generator().manual_seed(2))
    layer.train(training)

    def train_step() -> None:
        with vnn.fused_kernels(fused):
            layer.zero_grad(set_to_none=True)
            for x in inputs:
                x.grad = None
            (layer(*inputs, **options) * grad).sum().backward()

    def infer() -> torch.Tensor:
        with vnn.fused_kernels(fused), torch.no_grad():
            return layer(*inputs, **options)

    return train_step if training else infer


def medians(timings: list[tuple[float, float]]) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of a list of (wall, cpu) timings."""
    return (
        statistics.median(wall for wall, _ in timings),
        statistics.median(cpu for _, cpu in timings),
    )


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_mib(kind: str, name: str, case: str, dropout: float) -> float:
    """In this (fresh) process: peak resident-set growth in MiB of one call after a warm-up."""
    ctypes.CDLL("libc.so.6").mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD = 64 KiB, fixed
    layer, _ = build(name, dropout, kind)
    step = make_step(layer, CASES[case], IMPLEMENTATIONS[name], kind)
    step()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset VmHWM to the current resident set
    before = _status_kib("VmRSS")
    step()
    return (_status_kib("VmHWM") - before) / 1024


def measure_memory_in_subprocess(
    kind: str, name: str, case: str, args: argparse.Namespace
) -> float:
    command = [sys.executable, __file__, "--memory", kind, name, case]
    command += ["--threads", str(args.threads)]
    command += ["--dropout", str(args.dropout)]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def check_equal_outputs(dropout: float, kind: str = "encoder") -> None:
    """Before timing: our eval outputs equal torch's on both paths."""
    ours, reference = build("ours", dropout, kind)
    inputs, options = layer_inputs(kind, training=False)
    ours.eval(), reference.eval()
    with torch.no_grad():
        expected = reference(*inputs, **options)
        for fused in (True, False):
            with vnn.fused_kernels(fused):
                error = (ours(*inputs, **options) - expected).abs().max().item()
            print(
                f"{kind} eval output, fused_kernels({fused}): max |ours - torch| = {error:.1e}"
            )
            if error > 1e-4:
                raise SystemExit("outputs differ from torch's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds per case")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout of both layers")
    parser.add_argument(
        "--layers", nargs="+", choices=list(LAYERS), default=list(LAYERS), help="layers to time"
    )
    parser.add_argument(
        "--memory", nargs=3, metavar=("LAYER", "IMPL", "CASE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory:
        print(peak_memory_mib(*args.memory, args.dropout))
        return

    for kind in args.layers:
        check_equal_outputs(args.dropout, kind)
    steps: dict[tuple[str, ...], Callable[[], object]] = {("matmul",): make_matmul()}
    steps |= {
        (kind, case, name): make_step(build(name, args.dropout, kind)[0], training, fused, kind)
        for kind in args.layers
        for case, training in CASES.items()
        for name, fused in IMPLEMENTATIONS.items()
    }
    for step in steps.values():
        for _ in range(3):
            step()
    keys = list(steps)
    results: dict[tuple[str, ...], list[tuple[float, float]]] = {key: [] for key in keys}
    for round_index in range(args.rounds):
        shift = round_index % len(keys)
        for key in keys[shift:] + keys[:shift]:
            results[key].append(_timed(steps[key]))
    gflops_machine = 2 * 2048**3 / min(wall for wall, _ in results[("matmul",)]) / 1e9
    peaks = {
        (kind, case, name): measure_memory_in_subprocess(kind, name, case, args)
        for kind in args.layers
        for case in CASES
        for name in IMPLEMENTATIONS
    }

    print(
        f"\nCPU float32, batch {BATCH}, seq {SEQ}, d_model {D_MODEL}, {HEADS} heads, d_ff {D_FF}, "
        f"dropout {args.dropout}, batch_first; torch {torch.__version__}, "
        f"torch.set_num_threads({args.threads}) (os.cpu_count() = {os.cpu_count()}), "
        f"{args.rounds} interleaved rounds, medians"
    )
    print(f"matmul throughput (2048^3 float32 matmul, best round): {gflops_machine:.1f} GFLOP/s")
    print(
        f"\n{'layer':<8} {'case':<10} {'implementation':<14} {'wall ms':>8} {'ours/torch':>10} "
        f"{'cpu ms':>8} {'ours/torch':>10} {'peak MiB':>9} {'GFLOP/s':>8} {'of matmul':>9}"
    )
    for kind in args.layers:
        flops = layer_flops(BATCH, SEQ, D_MODEL, D_FF, kind)
        for case, training in CASES.items():
            torch_wall, torch_cpu = medians(results[(kind, case, "torch")])
            for name in IMPLEMENTATIONS:
                wall, cpu = medians(results[(kind, case, name)])
                achieved = (3 if training else 1) * flops / wall / 1e9
                print(
                    f"{kind:<8} {case:<10} {name:<14} {wall * 1e3:>8.1f} "
                    f"{wall / torch_wall:>10.3f} {cpu * 1e3:>8.1f} {cpu / torch_cpu:>10.3f} "
                    f"{peaks[(kind, case, name)]:>9.1f} {achieved:>8.1f} "
                    f"{100 * achieved / gflops_machine:>8.1f}%"
                )
    print("\ntargets (wall-clock ratio): fused <= 1.05 in both cases; explicit <= 1.10 training,")
    print("<= 1.25 inference. Load average now: " + " ".join(f"{v:.1f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
