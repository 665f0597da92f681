"""noisylabels: train image classifiers on noisy labels, and find the wrong labels.

Implements TCL (Huang et al., CVPR 2023) and the contrastive pre-training framework of Ciortan et
al. (Data, 2021) on one on-device training engine, with the baselines and noise models that make their
results comparable.

Python API: :func:`find_label_issues` (arrays in, a ranked verdict out), :func:`train` and :func:`load_run`
(a run folder as a :class:`Run`: summary fields, label issues, ``predict``), :func:`make_noisy_labels`, and
the methods and losses by name (:data:`METHODS`, :data:`LOSSES`).
"""

__version__ = "0.1.0"

from .api import LabelIssueReport, find_label_issues, make_noisy_labels  # noqa: E402
from .losses import LOSSES, get_loss  # noqa: E402
from .methods import METHODS, get_method  # noqa: E402
from .trained import Run, load_run, train  # noqa: E402

__all__ = ["LOSSES", "LabelIssueReport", "METHODS", "Run", "__version__", "find_label_issues", "get_loss",
           "get_method", "load_run", "make_noisy_labels", "train"]
