"""Positions: the sinusoidal encoding module, rotary embeddings, their derivations and claims."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch

from verified_transformer.derive import positions as ps
from verified_transformer.nn.positional import (
    SinusoidalPositionalEncoding,
    rotary_embedding,
    sinusoidal_encoding,
)


def test_table_entries_are_the_papers_formula() -> None:
    table = sinusoidal_encoding(50, 8, dtype=torch.float64)
    for pos in (0, 1, 7, 49):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-15)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-15)


@pytest.mark.parametrize("batch_first", [False, True])
def test_module_adds_the_table_along_the_sequence_dimension(batch_first: bool) -> None:
    module = SinusoidalPositionalEncoding(6, max_len=10, dropout=0.0, batch_first=batch_first)
    x = torch.randn(3, 5, 6) if batch_first else torch.randn(5, 3, 6)
    table = sinusoidal_encoding(5, 6)
    expected = x + (table[None] if batch_first else table[:, None])
    torch.testing.assert_close(module(x), expected)
    unbatched = torch.randn(4, 6)
    torch.testing.assert_close(module(unbatched), unbatched + table[:4])
    assert module.state_dict() == {}  # the table is a non-persistent buffer


def test_module_dropout_applies_in_training_only() -> None:
    module = SinusoidalPositionalEncoding(4, max_len=8, dropout=0.5)
    x = torch.zeros(8, 2, 4)
    torch.manual_seed(0)
    assert (module(x) == 0).any()  # some entries dropped
    module.eval()
    torch.testing.assert_close(module(x), sinusoidal_encoding(8, 4)[:, None].expand(8, 2, 4))


def test_module_rejects_bad_arguments_with_their_names() -> None:
    with pytest.raises(ValueError, match="d_model must be even.*d_model=5"):
        SinusoidalPositionalEncoding(5)
    with pytest.raises(TypeError, match="max_len"):
        SinusoidalPositionalEncoding(4, max_len=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dropout"):
        SinusoidalPositionalEncoding(4, dropout=1.5)
    module = SinusoidalPositionalEncoding(4, max_len=6, batch_first=True)
    with pytest.raises(ValueError, match="7 positions.*max_len=6"):
        module(torch.zeros(2, 7, 4))
    with pytest.raises(ValueError, match="d_model=4"):
        module(torch.zeros(2, 3, 5))
    with pytest.raises(TypeError, match="floating-point"):
        module(torch.zeros(2, 3, 4, dtype=torch.long))


def test_rotary_embedding_rotates_each_pair_and_keeps_norms() -> None:
    x = torch.randn(2, 3, 10, 8, dtype=torch.float64)
    y = rotary_embedding(x)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])  # position 0: no rotation
    m, i = 3, 1
    angle = m * 10000 ** (-2 * i / 8)
    a, b = x[..., m, 2 * i], x[..., m, 2 * i + 1]
    torch.testing.assert_close(y[..., m, 2 * i], a * math.cos(angle) - b * math.sin(angle))
    torch.testing.assert_close(y[..., m, 2 * i + 1], a * math.sin(angle) + b * math.cos(angle))


def test_rotary_scores_depend_on_the_offset_only() -> None:
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    positions = torch.arange(20)
    rq = rotary_embedding(q.expand(20, 8), positions)
    rk = rotary_embedding(k.expand(20, 8), positions)
    scores = rq @ rk.T
    for offset in range(-5, 6):
        diagonal = scores.diagonal(offset)
        torch.testing.assert_close(diagonal, diagonal[:1].expand_as(diagonal))
    assert not torch.allclose(scores.diagonal(0)[:1], scores.diagonal(1)[:1])


def test_rotary_embedding_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="even"):
        rotary_embedding(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="positions must have shape"):
        rotary_embedding(torch.zeros(4, 6), torch.arange(3))
    with pytest.raises(TypeError, match="floating-point"):
        rotary_embedding(torch.zeros(4, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="base must be > 1"):
        rotary_embedding(torch.zeros(4, 6), base=1.0)


def test_shift_map_is_derived_without_the_position() -> None:
    matrix = ps.shift_map()
    assert ps.p not in matrix.free_symbols
    assert matrix == sp.Matrix(
        [[sp.cos(ps.k * ps.omega), sp.sin(ps.k * ps.omega)],
         [-sp.sin(ps.k * ps.omega), sp.cos(ps.k * ps.omega)]]
    )


def test_rope_matrix_is_block_diagonal_rotation() -> None:
    query, _ = ps.query_key(4)
    freqs = ps.frequencies(2)
    rotated = ps.rope(query, sp.Integer(0), freqs)
    assert rotated == query
    with pytest.raises(ValueError, match="length 4"):
        ps.rope(sp.Matrix([1, 2]), ps.m, freqs)


@pytest.fixture(scope="module")
def position_claims():  # noqa: ANN201
    from verified_transformer.claims import positions

    return {c.id: c for c in positions.CLAIMS}


def test_shift_claim_fails_for_a_wrong_table(position_claims, monkeypatch) -> None:
    """The numeric check reads our table: a table with sine and cosine swapped fails it."""
    from verified_transformer.claims import numeric_positions

    def swapped(max_len: int, d_model: int, **kwargs: object) -> torch.Tensor:
        table = sinusoidal_encoding(max_len, d_model, **kwargs)
        return table.view(max_len, -1, 2).flip(-1).reshape(max_len, d_model)

    monkeypatch.setattr(numeric_positions, "sinusoidal_encoding", swapped)
    claim = position_claims["positions.sinusoidal_shift"]
    assert not claim.numeric_holds(claim.formula)
