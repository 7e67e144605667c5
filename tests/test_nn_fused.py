"""The one switch between torch's fused kernels and the explicit formulas."""

from __future__ import annotations

import pytest

from verified_transformer.nn import fused_kernels, fused_kernels_enabled, set_fused_kernels


def test_fused_kernels_are_the_default_and_the_context_manager_restores_the_setting():
    assert fused_kernels_enabled() is True
    with fused_kernels(False):
        assert fused_kernels_enabled() is False
        with fused_kernels(True):
            assert fused_kernels_enabled() is True
        assert fused_kernels_enabled() is False
    assert fused_kernels_enabled() is True


@pytest.mark.parametrize("outer", [True, False])
def test_context_manager_restores_the_previous_setting_after_an_exception(outer):
    with fused_kernels(outer):
        with pytest.raises(KeyError), fused_kernels(not outer):
            assert fused_kernels_enabled() is (not outer)
            raise KeyError("boom")
        assert fused_kernels_enabled() is outer
    assert fused_kernels_enabled() is True


def test_set_fused_kernels_sets_the_switch_globally():
    try:
        set_fused_kernels(False)
        assert fused_kernels_enabled() is False
    finally:
        set_fused_kernels(True)
    assert fused_kernels_enabled() is True


@pytest.mark.parametrize("value", [0, 1, "yes", None])
def test_the_switch_accepts_only_bools(value):
    with pytest.raises(TypeError, match="enabled must be a bool"):
        set_fused_kernels(value)
    with pytest.raises(TypeError, match="enabled must be a bool"), fused_kernels(value):
        pass
    assert fused_kernels_enabled() is True
