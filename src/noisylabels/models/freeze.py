"""``--freeze-encoder``: keep a (pretrained) encoder fixed for the whole run, a linear probe when the
method trains only a linear classifier on top (the standard evaluation of pretrained features, e.g.
Chen et al. 2020, SimCLR Sec. 4). For a probe during the first epochs only, then fine-tuning, use the
ce-like methods' ``--head-epochs`` instead.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d that always normalises with its running statistics and never updates them, in
    train mode too; the same parameters and buffers (and so the same state-dict names) as BatchNorm2d."""

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


def freeze_encoder(encoder: nn.Module) -> nn.Module:
    """Freeze ``encoder`` in place and return it: no parameter requires a gradient (the optimiser skips
    them) and every BatchNorm2d keeps its statistics (:class:`FrozenBatchNorm2d`), so the encoder's whole
    state dict stays as loaded, whatever the training loop does with ``train()``."""
    for module in list(encoder.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.BatchNorm2d:
                frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps, momentum=child.momentum,
                                           affine=child.affine, track_running_stats=child.track_running_stats)
                frozen.load_state_dict(child.state_dict())
                setattr(module, name, frozen)
    encoder.requires_grad_(False)
    return encoder
