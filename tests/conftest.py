"""Session-wide test settings."""

import torch

# The tests use tiny tensors, for which extra threads only add wake-up latency (pytest-xdist
# already runs one worker per core).
torch.set_num_threads(1)
