"""What "equal to torch" means in the nn tests, stated once.

float64 to 1e-12 and float32 to 1e-5 (absolute and relative), and every equality test run on both
paths of the :func:`verified_transformer.nn.fused_kernels` switch.
"""

import pytest
import torch

TOLERANCE = {
    torch.float64: {"atol": 1e-12, "rtol": 1e-12},
    torch.float32: {"atol": 1e-5, "rtol": 1e-5},
}
PATH = pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
