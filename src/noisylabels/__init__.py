"""noisylabels: train image classifiers on noisy labels, and find the wrong labels.

Implements TCL (Huang et al., CVPR 2023) and the contrastive pre-training framework of Ciortan et
al. (Data, 2021) on one on-device training engine, with the baselines and noise models of
shared/PROTOCOL.md.
"""

__version__ = "0.1.0"

from .api import LabelIssueReport, find_label_issues  # noqa: E402

__all__ = ["LabelIssueReport", "__version__", "find_label_issues"]
