"""A method's pruned model as an ordinary ``nn.Module``: saved when a run reports, rebuilt from
the run directory by :func:`evoprune.load.load_pruned`.

``weights_<method>.pt`` holds only tensors and plain values (the fine-tuned state_dict, the mask,
the input shape and class count), so it loads with ``weights_only=True``. The architecture is
not pickled: it is rebuilt from the run's resolved config in ``results.json`` (the dense model,
its pruning space, and the mask removing the same units the run removed), so the module is the
same kind of module the run fine-tuned: ``.eval()``, ``.train()`` and any batch size work,
unlike the exported ``model_<method>.pt2`` program.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evoprune.infra.atomic import save_torch_atomic

WEIGHTS_FILE = "weights_{method}.pt"
FORMAT = 1


def save_pruned_weights(path: Path, model: nn.Module, mask: np.ndarray,
                        input_shape: Sequence[int], num_classes: int) -> None:
    """Write what :func:`evoprune.load.load_pruned` needs beside the run's config: ``model``'s
    state_dict, the ``mask`` it was pruned with, and the data's sample shape and class count
    (to build and trace the dense model)."""
    save_torch_atomic(path, {"format": FORMAT, "state_dict": {
                          name: value.cpu() for name, value in model.state_dict().items()},
                             "mask": torch.as_tensor(np.asarray(mask)),
                             "input_shape": [int(d) for d in input_shape],
                             "num_classes": int(num_classes)})
