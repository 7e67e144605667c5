"""Facts about the pinned torch that chapter 5's prose states: checked, so a torch upgrade that
changes them fails here and names the sentence to revise."""

import torch
import torch.nn.functional as F

L, D = 4, 8


def fully_masked_query_1() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, a boolean ``nn.MultiheadAttention`` mask (True = blocked) that blocks every key of
    query 1 and nothing else, and the same mask as a 0/-inf float mask."""
    x = torch.randn(1, L, D, generator=torch.Generator().manual_seed(0))
    blocked = torch.zeros(L, L, dtype=torch.bool)
    blocked[1] = True
    return x, blocked, torch.zeros(L, L).masked_fill(blocked, float("-inf"))


def test_the_pinned_torch_is_the_one_the_book_describes() -> None:
    assert torch.__version__.split("+")[0] == "2.13.0"


def test_sdpa_returns_a_zero_row_for_a_query_whose_keys_are_all_masked() -> None:
    x, blocked, additive = fully_masked_query_1()
    values = torch.eye(L)[None]  # the output is the attention weights
    for mask in (~blocked, additive):  # sdpa's bool convention is True = may attend
        weights = F.scaled_dot_product_attention(x, x, values, attn_mask=mask)[0]
        assert torch.equal(weights[1], torch.zeros(L))
        assert torch.allclose(weights[[0, 2, 3]].sum(-1), torch.ones(3), atol=1e-6)


def test_multihead_attention_zero_row_on_the_slow_path_without_weights_only() -> None:
    x, blocked, _ = fully_masked_query_1()
    mha = torch.nn.MultiheadAttention(D, 2, batch_first=True).eval()
    with torch.no_grad():
        mha.out_proj.bias.normal_()
    # autograd on: the ordinary ("slow") path, which calls scaled_dot_product_attention
    slow_no_weights, _ = mha(x, x, x, attn_mask=blocked, need_weights=False)
    slow_weights, weights = mha(x, x, x, attn_mask=blocked, need_weights=True)
    # need_weights=False: the attention part of query 1 is zero, so its output is out_proj's bias
    assert torch.equal(slow_no_weights[0, 1].detach(), mha.out_proj.bias.detach())
    # need_weights=True (the default): an explicit softmax over all -inf gives NaN
    assert torch.isnan(weights[0, 1]).all() and torch.isnan(slow_weights[0, 1]).all()
    # the other queries agree between the two
    assert torch.allclose(slow_no_weights[0, [0, 2, 3]], slow_weights[0, [0, 2, 3]], atol=1e-6)
    # the inference fast path (eval, no autograd, batch_first, self-attention, even number of
    # heads, boolean mask) returns NaN for that query whatever need_weights says
    with torch.no_grad():
        fast, _ = mha(x, x, x, attn_mask=blocked, need_weights=False)
        assert torch.isnan(fast[0, 1]).all()
        assert torch.allclose(fast[0, [0, 2, 3]], slow_weights[0, [0, 2, 3]], atol=1e-6)
        # the fast path needs an even number of heads: with one head the same call stays slow
        one_head = torch.nn.MultiheadAttention(D, 1, batch_first=True).eval()
        assert not torch.isnan(one_head(x, x, x, attn_mask=blocked, need_weights=False)[0]).any()
