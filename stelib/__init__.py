"""stelib: gradient estimation through discrete units, with exact references.

The library behind the course "Learning with symbols within neural networks:
straight-through estimators". The deterministic straight-through ops and the Gumbel
ops live at the top level; the exact ground truth, the estimators, diagnostics,
problems, the training loop and the plots live in submodules.
"""

from . import diagnostics, estimators, exact, plotting, problems, train
from .gumbel import binary_concrete, gumbel_max, gumbel_softmax, sample_gumbel, sample_logistic
from .ste import ste_sign, ste_threshold, straight_through, threshold

__version__ = "0.1.0"

__all__ = [
    "threshold",
    "ste_threshold",
    "ste_sign",
    "straight_through",
    "sample_gumbel",
    "sample_logistic",
    "gumbel_max",
    "gumbel_softmax",
    "binary_concrete",
    "diagnostics",
    "estimators",
    "exact",
    "plotting",
    "problems",
    "train",
]
