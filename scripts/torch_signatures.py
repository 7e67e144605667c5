"""Print (or write) chapter 7's table of torch signatures, from the installed torch.

Usage: python scripts/torch_signatures.py [--write]

Prints a Markdown table of the parameters and defaults of the torch modules and functions that
chapter 7 discusses, read with ``inspect.signature`` (``scaled_dot_product_attention`` is a
builtin: its signature is the first line of its docstring). ``--write`` stores it in
book/_generated/torch_signatures.txt (not a page of its own), which book/07_tools.md includes;
tests/test_torch_signatures.py fails when that file differs from what this prints.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "book" / "_generated" / "torch_signatures.txt"

#: (name shown, object), in the chapter's order.
OBJECTS = [
    ("nn.LayerNorm", torch.nn.LayerNorm),
    ("nn.RMSNorm", torch.nn.RMSNorm),
    ("nn.MultiheadAttention", torch.nn.MultiheadAttention),
    ("nn.MultiheadAttention.forward", torch.nn.MultiheadAttention.forward),
    ("nn.TransformerEncoderLayer", torch.nn.TransformerEncoderLayer),
    ("nn.TransformerEncoder", torch.nn.TransformerEncoder),
    ("F.scaled_dot_product_attention", torch.nn.functional.scaled_dot_product_attention),
]
#: Left out of every row: the instance, and the factory arguments that every module takes.
OMITTED = ("self", "device", "dtype")


def default_text(value: object) -> str:
    """A default as a reader would type it: functions by name, everything else by repr."""
    return value.__name__ if inspect.isfunction(value) else repr(value)


def parameters_text(obj: object) -> str:
    """``(name, name=default, ...)`` of ``obj``'s parameters, without annotations and without
    :data:`OMITTED`."""
    try:
        signature = inspect.signature(obj)
    except ValueError:  # a builtin without a text signature: read its docstring's first line
        head = " ".join(obj.__doc__.split("->")[0].split())
        return head[head.index("("):]
    parts = []
    for parameter in signature.parameters.values():
        if parameter.name in OMITTED:
            continue
        if parameter.default is inspect.Parameter.empty:
            parts.append(parameter.name)
        else:
            parts.append(f"{parameter.name}={default_text(parameter.default)}")
    return "(" + ", ".join(parts) + ")"


def signature_table() -> str:
    """The Markdown table: one row per object of :data:`OBJECTS`, and the torch version."""
    lines = [
        f"Printed by `scripts/torch_signatures.py` from `torch` {torch.__version__} (the modules"
        f" also take `device=None, dtype=None`):",
        "",
        "| Module or function | Signature (defaults) |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | `{parameters_text(obj)}` |" for name, obj in OBJECTS]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    table = signature_table()
    if argv == ["--write"]:
        INCLUDE.parent.mkdir(parents=True, exist_ok=True)
        INCLUDE.write_text(table, encoding="utf-8")
    elif argv:
        print(__doc__, file=sys.stderr)
        return 2
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
