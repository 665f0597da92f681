"""Two-component 1-D Gaussian mixtures of per-sample scores (pure numpy + scikit-learn).

The sample-selection step of both papers: TCL (Sec. 3.2) and the contrastive framework (Ciortan et al.,
Sec. 2.4, after DivideMix) fit two Gaussians to a per-sample score and read the component of the low
mean as the clean one. The detector's out-of-sample count caps its flags by the same fit
(``labelquality.ConfidenceMixture``).
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture


def fit_two_gaussians(scores: np.ndarray, *, random_state: int = 0, reg_covar: float = 1e-6, max_iter: int = 100,
                      tol: float = 1e-3) -> tuple[GaussianMixture, int]:
    """(the fitted mixture, the index of its component of lower mean) for scores (n,) float, n >= 2 and
    not all equal (the caller checks: a constant score has nothing to separate)."""
    gmm = GaussianMixture(n_components=2, random_state=random_state, reg_covar=reg_covar, max_iter=max_iter, tol=tol)
    gmm.fit(np.asarray(scores, dtype=np.float64).reshape(-1, 1))
    return gmm, int(np.argmin(gmm.means_.ravel()))


def low_component_posterior(gmm: GaussianMixture, low: int, scores: np.ndarray) -> np.ndarray:
    """(n,) the posterior probability of the component ``low`` for each score (n,)."""
    return gmm.predict_proba(np.asarray(scores, dtype=np.float64).reshape(-1, 1))[:, low]
