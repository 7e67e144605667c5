"""verified_transformer.notebook.setup: what every chapter notebook's first cell relies on."""

import os
import random
import subprocess
import sys

import matplotlib
import torch

from verified_transformer.fonts import FAMILIES
from verified_transformer.notebook import FIGSIZE, setup


def test_setup_makes_random_draws_repeat_and_kernels_deterministic() -> None:
    previous = torch.are_deterministic_algorithms_enabled()
    try:
        setup(seed=3)
        first = (torch.randn(4), random.random())
        torch.randn(100)  # move the generators on
        setup(seed=3)
        second = (torch.randn(4), random.random())
        assert torch.equal(first[0], second[0]) and first[1] == second[1]
        setup(seed=4)
        assert not torch.equal(torch.randn(4), first[0])
        assert torch.are_deterministic_algorithms_enabled()
        assert tuple(matplotlib.rcParams["figure.figsize"]) == FIGSIZE
        assert matplotlib.rcParams["font.family"] == FAMILIES  # the packaged CJK font
    finally:
        torch.use_deterministic_algorithms(previous)



def test_setup_makes_kernels_deterministic_without_loading_the_compiler() -> None:
    """setup() turns on torch's deterministic kernels without importing torch._inductor (whose
    import costs seconds per notebook), and torch.compile loaded afterwards is deterministic too;
    once the compiler is loaded, setup() sets its flag through torch itself."""
    script = (
        "import sys, torch\n"
        "from verified_transformer.notebook import setup\n"
        "assert not torch.are_deterministic_algorithms_enabled()\n"
        "setup()\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert 'torch._inductor.config' not in sys.modules\n"
        "import torch._inductor.config as inductor\n"
        "assert inductor.deterministic is True\n"
        "torch.use_deterministic_algorithms(False)\n"
        "assert inductor.deterministic is False\n"
        "setup()\n"
        "assert torch.are_deterministic_algorithms_enabled() and inductor.deterministic is True\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_DETERMINISTIC"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout == "ok\n", done.stderr
