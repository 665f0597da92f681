"""inference.py: the test-set figures of a classifier (top-1, top-5), those of a further test set (--imagenet-val)
and the run totals built from them."""

import math

import pytest
import torch

from noisylabels.data.augment import ViewConfig
from noisylabels.engine import topk_totals
from noisylabels.inference import classifier_metrics, eval_set_metrics


class _FixedLogits(torch.nn.Module):
    """A 'classifier' whose logits for test image i are row i of a fixed table (the image's first pixel
    holds i)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.table[x[:, 0, 0, 0].round().long()]


def _images(n: int) -> torch.Tensor:
    """uint8 (n, 2, 2, 1) images whose pixels all hold their index."""
    return torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 2, 2, 1).contiguous()


VIEWS = ViewConfig(mean=(0.0,), std=(1 / 255,), crop_pad=0, flip=False)  # normalised pixel = index


def test_top5_counts_the_true_class_among_the_five_highest_logits():
    """6 classes, 4 samples by hand: true class ranked 1st, 3rd, 5th and 6th -> top-1 1/4, top-5 3/4."""
    table = torch.tensor([[6., 5, 4, 3, 2, 1]] * 4)
    labels = torch.tensor([0, 2, 4, 5])
    m = classifier_metrics(_FixedLogits(table), _images(4), labels, VIEWS)
    assert m["test_accuracy"] == 0.25 and m["test_top5_accuracy"] == 0.75
    assert m["test_loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(table, labels)), rel=1e-5)


def test_no_top5_with_fewer_than_five_classes():
    table = torch.tensor([[3., 2, 1, 0]] * 3)
    m = classifier_metrics(_FixedLogits(table), _images(3), torch.tensor([0, 1, 3]), VIEWS)
    assert "test_top5_accuracy" not in m and m["test_accuracy"] == pytest.approx(1 / 3)


def test_a_further_test_set_gives_its_own_top1_top5_and_loss():
    table = torch.tensor([[6., 5, 4, 3, 2, 1]] * 4)
    labels = torch.tensor([0, 2, 4, 5])
    m = eval_set_metrics(_FixedLogits(table), "imagenet", _images(4), labels, VIEWS)
    assert m.keys() == {"imagenet_top1_accuracy", "imagenet_top5_accuracy", "imagenet_loss"}
    assert m["imagenet_top1_accuracy"] == 0.25 and m["imagenet_top5_accuracy"] == 0.75


def test_topk_totals_are_the_last_and_the_highest_epoch():
    history = [{"epoch": 1, "test_top5_accuracy": 0.7}, {"epoch": 2}, {"epoch": 3, "test_top5_accuracy": 0.9},
               {"epoch": 4, "test_top5_accuracy": 0.8}]
    assert topk_totals(history) == {"test_top5_accuracy": 0.8, "best_test_top5_accuracy": 0.9}
    assert topk_totals([{"epoch": 1, "test_accuracy": 0.5}]) == {}
    assert math.isnan(topk_totals([{"test_top5_accuracy": 0.5}, {"epoch": 2}])["test_top5_accuracy"])
    both = [{"imagenet_top1_accuracy": 0.4, "imagenet_top5_accuracy": 0.6, "test_top5_accuracy": 0.5},
            {"imagenet_top1_accuracy": 0.3, "imagenet_top5_accuracy": 0.7, "test_top5_accuracy": 0.6}]
    assert topk_totals(both) == {"imagenet_top1_accuracy": 0.3, "best_imagenet_top1_accuracy": 0.4,
                                 "imagenet_top5_accuracy": 0.7, "best_imagenet_top5_accuracy": 0.7,
                                 "test_top5_accuracy": 0.6, "best_test_top5_accuracy": 0.6}


def test_a_full_pass_announces_its_batches_to_a_store_first():
    """A streamed set decodes ahead of the forward passes: the store hears every batch of the pass before
    the first is asked for, in the order they are asked for."""
    from noisylabels.inference import map_images
    from tests.helpers import memory_store

    store = memory_store(torch.randint(0, 256, (10, 4, 4, 1), dtype=torch.uint8))
    module = torch.nn.Identity()
    (out,) = map_images(module, lambda x: (x.flatten(1),), store, ViewConfig(crop_pad=0, flip=False, mean=(0.5,),
                                                                             std=(0.5,)), batch_size=4)
    assert store.announced == store.asked == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and out.shape == (10, 16)
