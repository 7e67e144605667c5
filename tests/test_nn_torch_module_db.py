"""PyTorch's own module test inputs (``torch.testing._internal.common_modules``) run on ours.

For ``TransformerDecoderLayer``, ``Transformer`` and ``TransformerEncoderLayer`` the torch test
suite lists its sample constructors and forward inputs (unbatched and batched, masks, padding,
``norm_first``, ``bias``, ``batch_first``, activations). For each sample we build torch's module
and ours with the same ``state_dict`` and compare outputs and gradients in training and eval mode
(torch's eval mode without autograd takes its fused inference paths where it has them).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from nn_helpers import assert_same_outputs_and_grads, randomize
from tolerances import TOLERANCE

import verified_transformer.nn as vnn

pytest.importorskip("expecttest")  # torch's test helpers import it; pinned in requirements.lock
from torch.testing._internal import common_modules  # noqa: E402

MODULES = {
    "TransformerDecoderLayer": common_modules.module_inputs_torch_nn_TransformerDecoderLayer,
    "Transformer": common_modules.module_inputs_torch_nn_Transformer,
    "TransformerEncoderLayer": common_modules.module_inputs_torch_nn_TransformerEncoderLayer,
}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    ("dtype", "fused"),
    [(torch.float64, True), (torch.float64, False), (torch.float32, True)],
    ids=["float64-fused", "float64-explicit", "float32-fused"],
)
@pytest.mark.parametrize("name", list(MODULES))
def test_torch_module_db_samples_match_torch(fused, training, dtype, name):
    torch.manual_seed(0)  # the samples are random (uniform in [-9, 9]): fix them
    samples = MODULES[name](None, "cpu", dtype, requires_grad=True, training=training)
    assert len(samples) > 10
    # inputs up to 9 give gradients up to ~1e2, whose float32 rounding exceeds 1e-5 absolute
    tolerance = {"atol": 1e-4, "rtol": 1e-4} if dtype == torch.float32 else TOLERANCE[dtype]
    for index, sample in enumerate(samples):
        args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        inputs = sample.forward_input.args
        call_options = sample.forward_input.kwargs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's nested-tensor notices
            theirs = getattr(torch.nn, name)(*args, **kwargs, dtype=dtype)
            ours = getattr(vnn, name)(*args, **kwargs, dtype=dtype)
            randomize(theirs, std=0.5, seed=index)
            ours.load_state_dict(theirs.state_dict())
            ours.train(training), theirs.train(training)
            with vnn.fused_kernels(fused):
                assert_same_outputs_and_grads(
                    ours, theirs, inputs, dtype, call_options, tolerance=tolerance
                )
                if not training:
                    with torch.no_grad():
                        torch.testing.assert_close(
                            ours(*inputs, **call_options),
                            theirs(*inputs, **call_options),
                            **tolerance,
                            msg=f"{name} sample {index} ({sample.desc}), no_grad",
                        )
