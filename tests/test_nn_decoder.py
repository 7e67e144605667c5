"""TransformerDecoderLayer, TransformerDecoder and Transformer against torch.nn: values, gradients,
masks, state_dict, torch's own test numbers, and errors that name the argument."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_helpers import assert_same_outputs_and_grads, attention_masks, randomize, twins
from tolerances import PATH, TOLERANCE

from verified_transformer.nn import (
    LayerNorm,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    fused_kernels,
)

pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # torch's warning
DTYPES = st.sampled_from([torch.float64, torch.float32])
ACTIVATIONS = ["relu", "gelu", TF.relu, TF.gelu, torch.tanh, torch.nn.GELU(approximate="tanh")]


@st.composite
def decoder_case(draw):
    d_model = draw(st.sampled_from([4, 6, 8]))  # LayerNorm over 2 features is ill-conditioned
    heads = draw(st.sampled_from([h for h in (1, 2, 4) if d_model % h == 0]))
    options = {
        "d_model": d_model,
        "nhead": heads,
        "dim_feedforward": draw(st.integers(1, 8)),
        "dropout": 0.0,
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "layer_norm_eps": draw(st.sampled_from([1e-5, 1e-12])),
        "batch_first": draw(st.booleans()),
        "norm_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
    }
    return {
        "options": options,
        "batched": draw(st.booleans()),
        "batch": draw(st.integers(1, 3)),
        "target": draw(st.integers(1, 4)),
        "source": draw(st.integers(1, 4)),
        "tgt_mask": draw(st.sampled_from(["none", "bool", "bool_3d", "float", "causal"])),
        "tgt_padded": draw(st.booleans()),
        "memory_mask": draw(st.sampled_from(["none", "bool", "bool_3d", "float"])),
        "memory_padded": draw(st.booleans()),
        "training": draw(st.booleans()),
    }


def sequence(case, length, dtype):
    options, batch, d_model = case["options"], case["batch"], case["options"]["d_model"]
    if not case["batched"]:
        return torch.randn(length, d_model, dtype=dtype)
    shape = (batch, length, d_model) if options["batch_first"] else (length, batch, d_model)
    return torch.randn(shape, dtype=dtype)


def decoder_inputs(case, dtype):
    """tgt, memory and the call options of a case (no query loses every key)."""
    batched, batch, heads = case["batched"], case["batch"], case["options"]["nhead"]
    target, source = case["target"], case["source"]
    tgt_mask, tgt_padding = attention_masks(
        case["tgt_mask"], case["tgt_padded"], batched, batch, target, target, heads, dtype
    )
    memory_mask, memory_padding = attention_masks(
        case["memory_mask"], case["memory_padded"], batched, batch, target, source, heads, dtype
    )
    options = {
        "tgt_mask": tgt_mask,
        "memory_mask": memory_mask,
        "tgt_key_padding_mask": tgt_padding,
        "memory_key_padding_mask": memory_padding,
        "tgt_is_causal": case["tgt_mask"] == "causal",
    }
    return sequence(case, target, dtype), sequence(case, source, dtype), options


@PATH
@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=decoder_case(), dtype=DTYPES)
def test_decoder_layer_matches_torch(fused, case, dtype):
    ours, theirs = twins(TransformerDecoderLayer, torch.nn.TransformerDecoderLayer, dtype=dtype,
                         **case["options"])  # fmt: skip
    ours.train(case["training"]), theirs.train(case["training"])
    tgt, memory, call_options = decoder_inputs(case, dtype)
    with fused_kernels(fused):
        assert_same_outputs_and_grads(ours, theirs, (tgt, memory), dtype, call_options)
        if not case["training"]:
            with torch.no_grad():
                torch.testing.assert_close(
                    ours(tgt, memory, **call_options),
                    theirs(tgt, memory, **call_options),
                    **TOLERANCE[dtype],
                )


@PATH
@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    case=decoder_case(),
    layers=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    src_mask=st.sampled_from(["none", "bool", "causal"]),
    src_padded=st.booleans(),
    dtype=DTYPES,
)
def test_transformer_matches_torch(fused, case, layers, src_mask, src_padded, dtype):
    options = dict(case["options"])
    if isinstance(options["activation"], torch.nn.Module):  # see the test after the next one
        options["activation"] = "gelu"
    options["num_encoder_layers"], options["num_decoder_layers"] = layers
    ours, theirs = twins(Transformer, torch.nn.Transformer, dtype=dtype, **options)
    ours.train(case["training"]), theirs.train(case["training"])
    tgt, memory, call_options = decoder_inputs(case, dtype)
    source, heads = case["source"], options["nhead"]
    call_options["src_mask"], call_options["src_key_padding_mask"] = attention_masks(
        src_mask, src_padded, case["batched"], case["batch"], source, source, heads, dtype
    )
    call_options["src_is_causal"] = src_mask == "causal" or None
    src = memory
    with fused_kernels(fused):
        assert_same_outputs_and_grads(ours, theirs, (src, tgt), dtype, call_options)
        if not case["training"]:  # torch's encoder may take its fused inference path here
            with torch.no_grad():
                torch.testing.assert_close(
                    ours(src, tgt, **call_options),
                    theirs(src, tgt, **call_options),
                    **TOLERANCE[dtype],
                )


def test_a_module_activation_survives_the_copies_of_the_stack_unlike_in_torch():
    """torch's TransformerDecoderLayer.__setstate__ puts F.relu in place of an activation given as
    an nn.Module whenever the layer is deep-copied, so torch's TransformerDecoder (and so its
    Transformer) computes ReLU there; our copies keep the activation that was given."""
    gelu = torch.nn.GELU(approximate="tanh")
    theirs = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(4, 2, activation=gelu), 1)
    ours = TransformerDecoder(TransformerDecoderLayer(4, 2, activation=gelu), 1)
    assert theirs.layers[0].activation is TF.relu  # torch's quirk, as of 2.13
    assert isinstance(ours.layers[0].activation, torch.nn.GELU)


def cosine_parameters(module):
    """torch's test_nn initialization: parameter k holds cos(0), cos(1), ... in its shape."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.cos(torch.arange(parameter.numel()).float().view(parameter.shape)))


# PyTorch's own test_transformerdecoderlayer cases (test/test_nn.py): decoder input, memory
# input (sequence-first), and torch's reference output, for d_model 4, 2 heads, d_ff 16.
TORCH_TEST_CASES = [
    ([[[20.0, 30.0, 40.0, 50.0]]], [[[60.0, 70.0, 80.0, 90.0]]],
     [[[2.314351, 0.094805, -0.671322, 0.101977]]]),
    ([[[9.0, 10.0, 11.0, 12.0]], [[11.0, 12.0, 13.0, 14.0]]], [[[1.0, 2.0, 3.0, 4.0]]],
     [[[2.422245, 0.051716, -0.606338, -0.024756]], [[2.422245, 0.051716, -0.606338, -0.024756]]]),
    ([[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]],
     [[[9.0, 10.0, 11.0, 12.0]], [[11.0, 12.0, 13.0, 14.0]]],
     [[[2.343536, 0.085561, -0.654954, 0.074991]], [[2.343536, 0.085561, -0.654954, 0.074991]]]),
    ([[[0.4517, 0.6793, 0.5313, 0.0034], [0.2678, 0.3677, 0.4459, 0.7166]],
      [[0.8100, 0.3716, 0.4096, 0.1976], [0.6958, 0.8844, 0.6081, 0.8315]],
      [[0.0494, 0.9343, 0.5955, 0.3830], [0.5404, 0.3464, 0.9378, 0.6200]]],
     [[[0.7462, 0.6653, 0.5679, 0.4891], [0.5387, 0.1655, 0.3565, 0.0471]],
      [[0.8335, 0.2799, 0.5031, 0.2947], [0.1402, 0.0318, 0.7636, 0.1346]],
      [[0.6333, 0.9344, 0.1376, 0.9938], [0.8924, 0.2872, 0.6692, 0.2944]],
      [[0.9897, 0.6915, 0.3154, 0.1733], [0.8645, 0.3513, 0.3064, 0.0767]],
      [[0.8117, 0.2366, 0.4838, 0.7881], [0.3718, 0.4945, 0.9511, 0.0864]]],
     [[[2.430065, 0.027862, -0.601136, -0.073096], [2.431935, 0.028907, -0.599809, -0.072488]],
      [[2.428457, 0.027053, -0.602275, -0.073462], [2.431970, 0.029387, -0.599789, -0.071621]],
      [[2.431934, 0.028196, -0.599802, -0.073809], [2.432306, 0.028858, -0.599542, -0.072846]]]),
]  # fmt: skip


@PATH
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("index", range(len(TORCH_TEST_CASES)))
def test_pytorch_test_suite_decoder_layer_numbers(fused, batch_first, index):
    decoder_input, memory_input, expected = (torch.tensor(x) for x in TORCH_TEST_CASES[index])
    if batch_first:
        decoder_input, memory_input, expected = (
            x.transpose(0, 1) for x in (decoder_input, memory_input, expected)
        )
    layer = TransformerDecoderLayer(4, 2, 16, 0.0, batch_first=batch_first)
    cosine_parameters(layer)
    with fused_kernels(fused):
        result = layer(decoder_input, memory_input)
        torch.testing.assert_close(result, expected, atol=1e-5, rtol=0)
        if index == 3:  # an all-False tgt_key_padding_mask changes nothing
            padding = torch.zeros(2, 3, dtype=torch.bool)
            padded = layer(decoder_input, memory_input, tgt_key_padding_mask=padding)
            torch.testing.assert_close(padded, expected, atol=1e-5, rtol=0)


@PATH
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_stack_with_final_norm_matches_torch_and_every_layer_gets_the_masks(
    fused, norm_first
):
    options = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "dropout": 0.0}
    options["norm_first"] = norm_first
    theirs = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(**options, dtype=torch.float64), 3,
        torch.nn.LayerNorm(8, dtype=torch.float64),
    )  # fmt: skip
    ours = TransformerDecoder(
        TransformerDecoderLayer(**options, dtype=torch.float64), 3, LayerNorm(8).double()
    )
    randomize(theirs)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    tgt, memory = torch.randn(5, 2, 8).double(), torch.randn(4, 2, 8).double()
    call_options = {
        "tgt_mask": Transformer.generate_square_subsequent_mask(5, dtype=torch.float64),
        "memory_key_padding_mask": torch.tensor([[False, False, True, True], [False] * 4]),
        "tgt_is_causal": None,  # torch detects the causal mask; ours applies it
    }
    with fused_kernels(fused):
        assert_same_outputs_and_grads(ours, theirs, (tgt, memory), torch.float64, call_options)
        causal = ours(tgt, memory, **call_options)
        # the causal mask acts: changing the last target position leaves the others alone
        changed = tgt.clone()
        changed[-1] += torch.randn(2, 8, dtype=torch.float64)  # not a shift LayerNorm removes
        later = ours(changed, memory, **call_options)
    torch.testing.assert_close(later[:-1], causal[:-1])
    assert not torch.allclose(later[-1], causal[-1])


@pytest.mark.parametrize("size", [0, 1, 4])
@pytest.mark.parametrize("dtype", [None, torch.float64, torch.bfloat16])
def test_generate_square_subsequent_mask_equals_torchs(size, dtype):
    mine = Transformer.generate_square_subsequent_mask(size, dtype=dtype)
    expected = torch.nn.Transformer.generate_square_subsequent_mask(size, dtype=dtype)
    assert mine.dtype == expected.dtype and torch.equal(mine, expected)
    assert isinstance(inspect.getattr_static(Transformer, "generate_square_subsequent_mask"),
                      staticmethod)  # fmt: skip


@pytest.mark.parametrize(
    ("ours", "theirs", "args"),
    [
        (TransformerDecoderLayer, torch.nn.TransformerDecoderLayer, (8, 2, 16)),
        (Transformer, torch.nn.Transformer, (8, 2, 2, 1, 16)),
    ],
)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_state_dict_round_trips_and_same_seed_initialization(ours, theirs, args, norm_first, bias):
    options = {"norm_first": norm_first, "bias": bias}
    torch.manual_seed(3)
    reference = theirs(*args, **options)
    torch.manual_seed(3)
    mine = ours(*args, **options)
    reference_state = reference.state_dict()
    assert list(mine.state_dict()) == list(reference_state)
    assert [name for name, _ in mine.named_parameters()] == [
        name for name, _ in reference.named_parameters()
    ]
    for name, tensor in mine.state_dict().items():  # torch's init, draw for draw
        assert torch.equal(tensor, reference_state[name]), name
    randomize(reference)
    mine.load_state_dict(reference.state_dict())  # torch -> ours
    back = theirs(*args, **options)
    back.load_state_dict(mine.state_dict())  # ours -> torch
    for name, tensor in back.state_dict().items():
        assert torch.equal(tensor, reference.state_dict()[name]), name


def test_transformer_init_is_xavier_uniform_on_matrices_and_keeps_vectors():
    torch.manual_seed(0)
    model = Transformer(16, 4, 1, 1, 32)
    for name, parameter in model.named_parameters():
        if parameter.dim() > 1:  # xavier_uniform_: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
            bound = (6.0 / sum(parameter.shape[:2])) ** 0.5
            assert parameter.abs().max() <= bound and parameter.abs().max() > 0.8 * bound, name
        elif "norm" in name and name.endswith("weight"):
            assert torch.equal(parameter, torch.ones_like(parameter)), name
    assert isinstance(model.encoder.norm, LayerNorm) and isinstance(model.decoder.norm, LayerNorm)
    assert model.d_model == 16 and model.nhead == 4 and model.batch_first is False


@PATH
def test_custom_encoder_and_decoder_are_used_as_given(fused):
    encoder = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, 0.0), 1)
    decoder = TransformerDecoder(TransformerDecoderLayer(8, 2, 16, 0.0), 2)
    model = Transformer(8, 2, custom_encoder=encoder, custom_decoder=decoder)
    assert model.encoder is encoder and model.decoder is decoder
    assert model.encoder.norm is None and len(model.decoder.layers) == 2
    src, tgt = torch.randn(4, 3, 8), torch.randn(5, 3, 8)
    with fused_kernels(fused):
        torch.testing.assert_close(model(src, tgt), decoder(tgt, encoder(src)))


@pytest.mark.parametrize("norm_first", [False, True])
def test_forward_hooks_on_the_attention_modules_fire_as_in_torch(norm_first):
    """A hook on self_attn or multihead_attn sees each call (the layer then takes the module call,
    as torch's does), e.g. to record the queries of the cross-attention."""
    layers = {"ours": TransformerDecoderLayer(8, 2, 16, 0.0, norm_first=norm_first),
              "torch": torch.nn.TransformerDecoderLayer(8, 2, 16, 0.0, norm_first=norm_first)}
    layers["ours"].load_state_dict(layers["torch"].state_dict())
    tgt, memory = torch.randn(5, 2, 8), torch.randn(4, 2, 8)
    seen = {}
    for name, layer in layers.items():
        calls = seen[name] = []
        for attention in (layer.self_attn, layer.multihead_attn):
            attention.register_forward_hook(
                lambda module, args, output, calls=calls: calls.append((args[0], output[0]))
            )
        seen[name + " output"] = layer(tgt, memory)
    assert len(seen["ours"]) == len(seen["torch"]) == 2
    pairs = zip(seen["ours"], seen["torch"], strict=True)
    for (query, output), (query_torch, output_torch) in pairs:
        torch.testing.assert_close(query, query_torch)
        torch.testing.assert_close(output, output_torch)
    torch.testing.assert_close(seen["ours output"], seen["torch output"])
    encoder = TransformerEncoderLayer(8, 2, 16, 0.0)
    calls = []
    encoder.self_attn.register_forward_hook(lambda *hook_args: calls.append(1))
    encoder(tgt)
    assert calls == [1]


@pytest.mark.parametrize("decoder", [False, True], ids=["encoder", "decoder"])
def test_attention_modules_get_torchs_keyword_arguments_is_causal_included(decoder):
    """With a hook registered, the layer calls its attention modules as torch's layer does: the
    same keyword arguments (masks, need_weights=False and the causal hint passed on)."""
    mask = Transformer.generate_square_subsequent_mask(5)
    pairs = ((TransformerDecoderLayer, torch.nn.TransformerDecoderLayer) if decoder else
             (TransformerEncoderLayer, torch.nn.TransformerEncoderLayer))  # fmt: skip
    seen = {}
    for layer_class in pairs:
        layer, calls = layer_class(8, 2, 16, 0.0), []
        for attention in (layer.self_attn, getattr(layer, "multihead_attn", None)):
            if attention is not None:
                attention.register_forward_pre_hook(
                    lambda module, args, kwargs, calls=calls: calls.append(kwargs), with_kwargs=True
                )
        x = torch.randn(5, 2, 8)
        layer(x, x, mask, mask, tgt_is_causal=True, memory_is_causal=True) if decoder else layer(
            x, mask, is_causal=True)  # fmt: skip
        seen[layer_class] = [{key: kwargs[key] for key in sorted(kwargs)} for kwargs in calls]
    ours, theirs = seen.values()
    assert len(ours) == len(theirs) == 1 + decoder
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.keys() == reference.keys()
        assert mine["is_causal"] is reference["is_causal"] is True
        assert mine["attn_mask"] is reference["attn_mask"] is mask
        assert mine["need_weights"] is reference["need_weights"] is False


def bad_calls():
    layer = TransformerDecoderLayer(4, 2, 8)
    tgt, memory = torch.randn(3, 2, 4), torch.randn(5, 2, 4)
    model = Transformer(4, 2, 1, 1, 8)
    return [
        (lambda: TransformerDecoderLayer(6, 4), ValueError, "d_model must be divisible by nhead"),
        (lambda: TransformerDecoderLayer(4, 2, 0), ValueError, "dim_feedforward must be a posi"),
        (lambda: TransformerDecoderLayer(4, 2, dropout=-1.0), ValueError, "dropout must be a"),
        (lambda: TransformerDecoderLayer(4, 2, activation="swish"), ValueError, "activation"),
        (lambda: TransformerDecoderLayer(4, 2, layer_norm_eps=-1.0), ValueError, "layer_norm_eps"),
        (lambda: TransformerDecoder("layer", 2), TypeError, "decoder_layer must be an nn.Module"),
        (lambda: TransformerDecoder(layer, 0), ValueError, "num_layers must be a positive int"),
        (lambda: Transformer(4, 2, 0), ValueError, "num_encoder_layers must be a positive int"),
        (
            lambda: layer(torch.randn(3, 2, 5), memory),
            ValueError,
            r"tgt must have shape .* d_model=4, got \[3, 2, 5\]",
        ),
        (
            lambda: layer(tgt, torch.randn(5, 2, 6)),
            ValueError,
            r"memory must have shape .* d_model=4, got \[5, 2, 6\]",
        ),
        (
            lambda: layer(tgt, torch.randn(5, 3, 4)),
            ValueError,
            r"memory must have the batch size of tgt \(2\)",
        ),
        (lambda: layer(tgt, torch.randn(5, 4)), ValueError, "memory must be 3-D like tgt"),
        (lambda: layer(tgt.long(), memory), TypeError, "tgt must have a floating-point dtype"),
        (lambda: layer(tgt, memory.double()), TypeError, "memory must have the parameters' dtype"),
        (lambda: layer(tgt, "memory"), TypeError, "memory must be a torch.Tensor"),
        (
            lambda: layer(tgt, memory, memory_mask=torch.zeros(3, 3, dtype=torch.bool)),
            ValueError,
            r"memory_mask must have shape \(L, S\) = \[3, 5\]",
        ),
        (
            lambda: layer(tgt, memory, tgt_key_padding_mask=torch.zeros(2, 5, dtype=torch.bool)),
            ValueError,
            r"tgt_key_padding_mask must have shape \(N, S\) = \[2, 3\]",
        ),
        (lambda: layer(tgt, memory, tgt_is_causal=True), ValueError, "tgt_mask must be given"),
        (
            lambda: layer(tgt, memory, memory_is_causal=True),
            ValueError,
            "memory_mask must be given",
        ),
        (
            lambda: model(memory, torch.randn(3, 4, 4)),
            RuntimeError,  # torch's type; ours is a ValueError as well
            r"src and tgt must have the same batch size \(dimension 1\)",
        ),
        (lambda: model(memory, torch.randn(3, 2, 5)), ValueError, "tgt must have shape"),
        (lambda: model(torch.randn(5, 2, 3), tgt), ValueError, "src must have shape"),
        (lambda: model(memory, torch.randn(3, 4)), ValueError, "src and tgt must both be batched"),
        (lambda: Transformer.generate_square_subsequent_mask(-1), ValueError, "sz must be an int"),
    ]


@PATH
@pytest.mark.parametrize("index", range(len(bad_calls())))
def test_bad_input_is_rejected_with_a_message_naming_it(fused, index):
    call, error, message = bad_calls()[index]
    with fused_kernels(fused), pytest.raises(error, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call()
