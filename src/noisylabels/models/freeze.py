"""``--freeze-encoder``: keep a (pretrained) encoder fixed for the whole run, a linear probe when the
method trains only a linear classifier on top (the standard evaluation of pretrained features, e.g.
Chen et al. 2020, SimCLR Sec. 4). For a probe during the first epochs only, then fine-tuning, use the
ce-like methods' ``--head-epochs`` instead.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics: (B, C, H, W) -> (x - running_mean) / sqrt(running_var + eps)
    * weight + bias, in train mode too. The parameters and buffers of ``nn.BatchNorm2d`` under the same
    names (so state dicts move freely between the two), but not a ``_BatchNorm``: ``--sync-bn``'s
    conversion and the CPU ranks' statistics averaging leave it alone."""

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.eps = bn.eps
        self.weight = nn.Parameter(bn.weight.detach().clone(), requires_grad=False)
        self.bias = nn.Parameter(bn.bias.detach().clone(), requires_grad=False)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(name, getattr(bn, name).detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


def freeze_encoder(encoder: nn.Module) -> nn.Module:
    """Freeze ``encoder`` in place and return it: no parameter requires a gradient (the optimiser skips
    them) and every BatchNorm2d keeps its statistics (:class:`FrozenBatchNorm2d`), so the encoder's whole
    state dict stays as loaded, whatever the training loop does with ``train()``. Modules with state
    that changes in training other than BatchNorm2d (none in our backbones) are not covered."""
    for module in list(encoder.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.BatchNorm2d and child.affine and child.track_running_stats:
                setattr(module, name, FrozenBatchNorm2d(child))
    encoder.requires_grad_(False)
    return encoder
