"""scripts/torch_signatures.py: chapter 7's signature table is printed from the installed torch."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "torch_signatures", ROOT / "scripts" / "torch_signatures.py")
signatures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(signatures)


def test_the_included_table_is_what_the_installed_torch_prints() -> None:
    stored = signatures.INCLUDE.read_text(encoding="utf-8")
    assert stored == signatures.signature_table(), (
        "book/_generated/torch_signatures.txt is stale: run `python scripts/torch_signatures.py "
        "--write`, then read chapter 7's notes against the new defaults")
    assert "{include} _generated/torch_signatures.txt" in (ROOT / "book" / "07_tools.md").read_text(
        encoding="utf-8")


def test_rows_carry_the_defaults_of_the_signature() -> None:
    layer_norm = signatures.parameters_text(torch.nn.LayerNorm)
    assert layer_norm == "(normalized_shape, eps=1e-05, elementwise_affine=True, bias=True)"
    forward = signatures.parameters_text(torch.nn.MultiheadAttention.forward)
    assert forward.startswith("(query, key, value, key_padding_mask=None") and "self" not in forward
    assert "activation=relu," in signatures.parameters_text(torch.nn.TransformerEncoderLayer)
    sdpa = signatures.parameters_text(torch.nn.functional.scaled_dot_product_attention)
    assert sdpa.startswith("(query, key, value, attn_mask=None") and sdpa.endswith(")")


def test_a_changed_default_changes_the_row() -> None:
    def layer(d_model: int, eps: float = 1e-6, *, device: object = None) -> None:
        """A stand-in with another default."""

    assert signatures.parameters_text(layer) == "(d_model, eps=1e-06)"
    assert inspect.signature(layer).parameters["eps"].default == 1e-6
    table = signatures.signature_table()
    assert f"`torch` {torch.__version__}" in table
    assert table.count("\n| `") == len(signatures.OBJECTS)
