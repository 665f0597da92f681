import math

import numpy as np
import pytest
import torch

from noisylabels.engine import FitConfig, fit, lr_at
from noisylabels.models.backbones import build_backbone
from noisylabels.runs import RunFolder
from tests.helpers import stripe_train_data, tiny_method


def test_lr_schedule_warmup_then_cosine():
    assert lr_at(0, 100, 10, 1.0, 0.0) == pytest.approx(0.1)
    assert lr_at(9, 100, 10, 1.0, 0.0) == pytest.approx(1.0)
    assert lr_at(10, 100, 10, 1.0, 0.01) == pytest.approx(1.0)
    assert lr_at(55, 100, 10, 1.0, 0.0) == pytest.approx(0.5)
    assert lr_at(100, 100, 10, 1.0, 0.01) == pytest.approx(0.01)


def _method():
    """CE on a width-4 small-cnn for ``stripe_train_data()`` (96 samples)."""
    return tiny_method("ce", 96)


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    data = stripe_train_data()
    cfg = FitConfig(epochs=4, batch_size=32, lr=0.05, seed=3, progress=False)
    full = fit(_method(), data, cfg, RunFolder(tmp_path / "full"), log=lambda s: None)

    part_dir = RunFolder(tmp_path / "part")

    class Killed(Exception):
        pass

    def kill_after_epoch_2(line: str) -> None:
        if line.startswith("epoch   2/"):
            raise Killed

    with pytest.raises(Killed):
        fit(_method(), data, cfg, part_dir, log=kill_after_epoch_2)
    # Simulate a kill after epoch 2: the checkpoint holds epochs 1-2; a torn metrics file is repaired.
    with open(part_dir.path / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "test_acc')
    resumed = fit(_method(), data, cfg, part_dir, resume=True, log=lambda s: None)

    assert [r["epoch"] for r in part_dir.read_metrics()] == [1, 2, 3, 4]
    a = [r["test_accuracy"] for r in full["history"]]
    b = [r["test_accuracy"] for r in resumed["history"]]
    assert a == b
    la = [r["loss"] for r in full["history"]]
    lb = [r["loss"] for r in resumed["history"]]
    assert np.allclose(la, lb, rtol=0, atol=1e-6)


def test_ce_learns_a_separable_toy_problem():
    result = fit(_method(), stripe_train_data(), FitConfig(epochs=8, batch_size=32, lr=0.05, progress=False),
                 log=lambda s: None)
    assert result["test_accuracy"] > 0.9
    assert math.isfinite(result["train_seconds"]) and result["images_per_second"] > 0


@pytest.mark.slow
def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    """A real SIGKILL of the training process mid-run; --resume finishes it with no duplicated or missing
    epochs and the same per-epoch figures as an uninterrupted run of the same seed (CPU)."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["train", "--dataset", "digits", "--noise", "symmetric", "--noise-rate", "0.4", "--method", "elr",
            "--epochs", "6", "--width", "8", "--batch-size", "32", "--quiet"]
    cmd = [sys.executable, "-m", "noisylabels"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd + args + ["--out", str(tmp_path / "full")], check=True, env=env, capture_output=True)
    victim = subprocess.Popen(cmd + args + ["--out", str(tmp_path / "part")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "part" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and victim.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be killed; make it longer"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    done = len(RunFolder(tmp_path / "part").read_metrics())
    assert 2 <= done < 6
    subprocess.run(cmd + ["train", "--resume", "--quiet", "--out", str(tmp_path / "part")], check=True, env=env,
                   capture_output=True)
    rows = {name: [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("full", "part")}
    assert [r["epoch"] for r in rows["part"]] == list(range(1, 7))
    for key in ("test_accuracy", "train_acc_given"):
        assert [r[key] for r in rows["full"]] == [r[key] for r in rows["part"]]
    assert np.allclose([r["loss"] for r in rows["full"]], [r["loss"] for r in rows["part"]], rtol=0, atol=1e-6)
    summaries = [json.loads((tmp_path / n / "summary.json").read_text()) for n in ("full", "part")]
    assert summaries[0]["test_accuracy"] == summaries[1]["test_accuracy"]
    assert summaries[0]["detection_auroc"] == summaries[1]["detection_auroc"]


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    from noisylabels.engine import TrainingDiverged

    method = _method()
    step = method.training_step

    def poisoned(idx, epoch, data, gen):
        loss, logs = step(idx, epoch, data, gen)
        if epoch == 2:
            loss = loss * float("nan")
            logs = {**logs, "loss": loss.detach()}
        return loss, logs

    method.training_step = poisoned
    run = RunFolder(tmp_path / "r")
    with pytest.raises(TrainingDiverged, match="epoch 2 .* checkpoint of epoch 1 is kept"):
        fit(method, stripe_train_data(), FitConfig(epochs=3, batch_size=32, progress=False), run, log=lambda s: None)
    assert run.load_checkpoint()["epoch"] == 1
    assert [r["epoch"] for r in run.read_metrics()] == [1]
    assert all(torch.isfinite(v).all() for v in run.load_checkpoint()["method"].values() if v.is_floating_point())


def test_resume_reads_the_checkpoint_onto_the_cpu_so_rng_states_stay_byte_tensors(tmp_path, monkeypatch):
    """On CUDA a checkpoint mapped to the device moves the saved RNG ByteTensors there, and
    torch.set_rng_state refuses them. Emulated on the CPU: a load mapped anywhere but the CPU returns
    the RNG state on a non-CPU ('meta') device, as a CUDA mapping would."""
    data = stripe_train_data()
    cfg = FitConfig(epochs=2, batch_size=32, lr=0.05, seed=3, progress=False)
    run = RunFolder(tmp_path / "run")
    fit(_method(), data, cfg, run, log=lambda s: None)
    real_load = RunFolder.load_checkpoint
    seen: list[object] = []

    def load_as_a_device_mapping_would(self, map_location="cpu"):
        seen.append(map_location)
        ckpt = real_load(self, map_location="cpu")
        if str(map_location) != "cpu":
            ckpt["rng"]["torch"] = torch.empty_like(ckpt["rng"]["torch"], device="meta")
        return ckpt

    monkeypatch.setattr(RunFolder, "load_checkpoint", load_as_a_device_mapping_would)
    resumed = fit(_method(), data, FitConfig(epochs=3, batch_size=32, lr=0.05, seed=3, progress=False), run,
                  resume=True, log=lambda s: None)
    assert seen == ["cpu"]
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3]


@pytest.mark.slow
def test_compile_trains_the_steps_compiled_and_matches_eager(tmp_path, monkeypatch):
    """--compile: the training steps run through torch.compile (here the aot_eager backend:
    Dynamo + AOTAutograd without a C++ toolchain), the per-epoch hooks and evaluation eagerly, and the
    figures and checkpoint keys equal an eager run's; afterwards the modules are eager again."""
    import torch._dynamo

    monkeypatch.setenv("NOISYLABELS_COMPILE_BACKEND", "aot_eager")
    data = stripe_train_data()
    eager = fit(_method(), data, FitConfig(epochs=2, batch_size=32, seed=1, progress=False), log=lambda s: None)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    method = _method()
    run = RunFolder(tmp_path / "compiled")
    compiled = fit(method, data, FitConfig(epochs=2, batch_size=32, seed=1, progress=False, compile=True), run,
                   log=lambda s: None)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # something was compiled
    assert [r["test_accuracy"] for r in eager["history"]] == [r["test_accuracy"] for r in compiled["history"]]
    assert np.allclose([r["loss"] for r in eager["history"]], [r["loss"] for r in compiled["history"]], atol=1e-5)
    saved = run.load_checkpoint(map_location="cpu")["method"]
    assert set(saved) == set(_method().state_dict())  # no _orig_mod. prefixes
    assert all(m._compiled_call_impl is None for m in method.children())


def test_sub_state_is_one_submodules_weights_without_its_prefix():
    """runs.sub_state, the one prefix stripper of checkpoint loading (--pretrained, tcl-plus --init-from):
    a ce checkpoint's model.encoder.* loads into a bare encoder; only leading prefixes count."""
    from noisylabels.runs import sub_state

    state = _method().state_dict()
    weights = sub_state(state, "encoder.", "model.encoder.")
    assert weights and set(weights) == {k[len("model.encoder."):] for k in state if k.startswith("model.encoder.")}
    enc = build_backbone("small-cnn", in_channels=1, image_size=8, width=4)
    enc.load_state_dict(weights)  # strict: every key of the encoder, nothing else
    assert all(torch.equal(v, state["model.encoder." + k]) for k, v in enc.state_dict().items())
    assert sub_state({"a.encoder.w": 1, "encoder.w": 2, "fc.b": 3}, "encoder.") == {"w": 2}
    assert sub_state({"fc.b": 3}, "encoder.") == {}


def test_an_epoch_too_small_for_the_processes_is_a_user_error():
    from noisylabels import distributed as ddp
    from noisylabels.errors import UserError

    data = stripe_train_data()
    method = tiny_method("ce", len(data.images))
    ddp.adopt(0, 4)  # four processes (no group is needed: the check comes first)
    try:
        with pytest.raises(UserError, match="--epoch-samples"):
            fit(method, data, FitConfig(epochs=1, batch_size=8, epoch_samples=3, progress=False))
    finally:
        ddp.shutdown()


def test_resume_on_fewer_gpus_restores_the_states_it_has_devices_for(monkeypatch):
    """A checkpoint holds one CUDA RNG state per GPU visible when it was saved (eight under torchrun); a
    resume that sees one GPU restores that one (set_rng_state_all raised IndexError). CUDA stood in for."""
    from noisylabels import engine

    saved = engine.rng_state()
    saved["cuda"] = [torch.full((16,), k, dtype=torch.uint8) for k in range(8)]
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: calls.append((int(state[0]), device)))
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: [None][len(states) - 1])  # IndexError for 8
    engine.restore_rng(saved)
    assert calls == [(0, 0)]


def test_compile_on_a_torch_without_set_stance_is_refused_before_training(monkeypatch):
    from noisylabels import engine
    from noisylabels.config import validate_config
    from noisylabels.errors import UserError
    from tests.helpers import digits_config

    monkeypatch.delattr(torch.compiler, "set_stance", raising=False)
    with pytest.raises(UserError, match="torch >= 2.6"):
        engine.compile_modules(_method())
    from noisylabels.config import TRAIN_DEFAULTS

    with pytest.raises(UserError, match="--compile needs torch >= 2.6"):
        validate_config({**TRAIN_DEFAULTS, **digits_config(), "compile": True})


def test_the_epoch_order_is_drawn_on_the_host_and_moved_once():
    """On an accelerator the order comes from a CPU generator and is copied once ('meta' stands in for
    CUDA); on the CPU it is the epoch generator's permutation, as before."""
    from noisylabels.engine import epoch_order
    from noisylabels.schedule import epoch_indices

    labels = torch.arange(50) % 5
    cfg = FitConfig(epochs=1, batch_size=8)
    gen = torch.Generator().manual_seed(3)
    on_cpu = epoch_order(labels, 5, torch.device("cpu"), gen, 3, cfg)
    assert on_cpu.tolist() == epoch_indices(labels, 5, torch.Generator().manual_seed(3)).tolist()
    moved = epoch_order(labels, 5, torch.device("meta"), torch.Generator().manual_seed(0), 3, cfg)
    assert moved.device.type == "meta" and moved.shape == (50,)


def test_bench_under_torchrun_is_refused(monkeypatch, tmp_path):
    from tests.helpers import one_line_error

    monkeypatch.setenv("WORLD_SIZE", "2")
    line = one_line_error("bench", "--protocol", "digits-mini", "--out", tmp_path / "b")
    assert "under torchrun" in line and not (tmp_path / "b").exists()


def test_durations_read_as_a_person_writes_them():
    from noisylabels.engine import format_duration

    assert [format_duration(s) for s in (0, 41.6, 185, 7620, -3)] == ["0s", "42s", "3m05s", "2h07m", "0s"]


def test_decay_all_puts_weight_decay_on_biases_and_norm_layers_too():
    """FitConfig.decay_all (the official TCL optimiser: SGD over every parameter with the weight decay)."""
    from noisylabels.engine import make_optimizer

    method = _method()
    ours = make_optimizer(method, FitConfig(epochs=1, weight_decay=1e-3))
    official = make_optimizer(method, FitConfig(epochs=1, weight_decay=1e-3, decay_all=True))
    assert [g["weight_decay"] for g in ours.param_groups] == [1e-3, 0.0]
    assert [g["weight_decay"] for g in official.param_groups] == [1e-3, 1e-3]
    assert any(p.ndim == 1 for p in official.param_groups[1]["params"])  # biases and norm weights


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # torch.autocast("cuda") built on a CPU-only machine
def test_autocast_off_trains_every_pass_of_the_fit_without_bf16():
    """FitConfig.autocast=False: the fit's precision is fp32 during the steps, the hooks and the evaluations
    (the official TCL code trains in fp32), whatever ``precision`` says; outside the fit bf16 is CUDA's again."""
    import noisylabels.precision as precision

    seen = []
    method = _method()
    step, evaluate = method.training_step, method.evaluate
    method.training_step = lambda *a: (seen.append(precision._MODE.get()), step(*a))[1]
    method.evaluate = lambda *a: (seen.append(precision._MODE.get()), evaluate(*a))[1]
    fit(method, stripe_train_data(), FitConfig(epochs=1, batch_size=32, progress=False, autocast=False,
                                               precision="bf16"), log=lambda s: None)
    assert seen and set(seen) == {"fp32"}
    assert isinstance(precision.autocast_for(torch.device("cuda")), torch.autocast)
    with precision.precision_scope("fp32"):
        assert not isinstance(precision.autocast_for(torch.device("cuda")), torch.autocast)