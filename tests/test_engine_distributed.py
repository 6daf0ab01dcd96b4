"""DP-SGD across processes (torchrun, gloo on the CPU): the privacy and the updates of one process.

Two processes are spawned once (tests/distributed_workers.py) and run every scenario; the test
process runs the same scenarios alone and compares: updates at σ = 0 (hooks, ghost and bk, with empty
local batches), the noise of an update (σC/B, not √2 or 2 times it), the accountant's history and
ε, each example's inclusion rate, a stopped run resumed by 2 processes and by 1, the DP-GAN, and
``torchrun --nproc-per-node 2 -m dpkit train-classifier``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import distributed_workers as workers
import dpkit.engine.private as private
from dpkit.classifiers import fit_classifier
from dpkit.data import DataOptions, load_dataset
from dpkit.engine import World, make_private, rank_seed, world_from_env
from dpkit.engine.config import PrivacyConfig
from dpkit.errors import DPKitError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(the scenarios run by this process alone, the 2 processes' results by rank)."""
    workdir = tmp_path_factory.mktemp("distributed")
    ranks = workers.spawn_scenarios(workdir)
    torch.manual_seed(0)
    one = workers.scenarios(str(workdir))
    return one, ranks, workdir


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], *, params_only=False):
    keys = [k for k in a if not params_only or not any(s in k for s in ("running_", "batches"))]
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in keys)


# --- the world, without processes ---------------------------------------------------------------

def test_world_from_torchrun_environment():
    assert world_from_env({}) == World()
    world = world_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (world.size, world.rank, world.local_rank, world.is_main) == (4, 3, 1, False)
    assert [World(size=3, rank=r).share(8) for r in range(3)] == [3, 3, 2]
    with pytest.raises(DPKitError, match="torchrun"):
        world_from_env({"WORLD_SIZE": "2", "RANK": "2"})
    assert rank_seed(5, 0) == 5 and len({rank_seed(5, r) for r in range(4)}) == 4


def test_batch_smaller_than_world_is_refused(monkeypatch):
    monkeypatch.setattr(private, "current_world", lambda: World(size=4, rank=0))
    data = workers.StackedDataset(torch.zeros(64, 2), torch.zeros(64, dtype=torch.long))
    model = torch.nn.Linear(2, 2)
    with pytest.raises(DPKitError, match="batch_size=2 is smaller than the 4 processes"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                     PrivacyConfig(noise_multiplier=1.0, delta=1e-3), batch_size=2, epochs=1)
    with pytest.raises(DPKitError, match="without DP runs in one process"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                     PrivacyConfig(enabled=False), batch_size=8, epochs=1)


# --- 2 processes against 1 ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hooks", "ghost", "bk"])
def test_update_without_noise_equals_one_process(runs, mode):
    one, ranks, _ = runs
    key = f"sigma0_{mode}"
    assert sum(r[key]["sizes"].count(0) for r in ranks) > 0, "an empty local batch must occur"
    for r in ranks:  # same logical batches, Σ clip all-reduced and divided by B once
        assert _max_diff(r[key]["weights"], one[key]["weights"]) < 1e-6
    assert sum(sum(r[key]["sizes"]) for r in ranks) == sum(one[key]["sizes"])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hooks", "ghost", "bk"])
def test_noise_is_added_once_for_the_logical_batch(runs, mode):
    one, ranks, _ = runs
    expected = 2.0 * 1.0 / 8  # σ C / B of noise_of_update
    for r in ranks:
        assert abs(float(r[f"noise_{mode}"].std()) / expected - 1) < 0.05, "noise std"
    assert abs(float(one[f"noise_{mode}"].std()) / expected - 1) < 0.05


@pytest.mark.slow
def test_noise_on_every_rank_is_caught(runs):
    """Mutation: every rank adds σC noise (what calling Opacus's add_noise on every rank, or
    forgetting the rank in dpkit's, would do); the std check above must fail."""
    _, ranks, _ = runs
    std = float(ranks[0]["noise_everywhere"].std())
    assert abs(std / (2.0 / 8) - 1) > 0.3


@pytest.mark.slow
def test_accountant_and_noisy_updates_equal_one_process(runs):
    one, ranks, _ = runs
    for r in ranks:  # one charge per logical step, the same σ and q
        assert r["sigma1_hooks"]["history"] == one["sigma1_hooks"]["history"]
        assert r["sigma1_hooks"]["epsilon"] == pytest.approx(one["sigma1_hooks"]["epsilon"])
        # rank 0 draws the noise from the single-process stream: the same noisy run
        assert _max_diff(r["sigma1_hooks"]["weights"], one["sigma1_hooks"]["weights"]) < 1e-6


def check_inclusion(per_rank: list[list[list[int]]], n: int, q: float) -> None:
    """Each step's local batches are disjoint and their union a Poisson batch: every example is
    included at rate q (binomial bounds over the steps)."""
    steps = len(per_rank[0])
    counts = torch.zeros(n)
    for step in range(steps):
        union = [i for rank in per_rank for i in rank[step]]
        assert len(union) == len(set(union)), "local batches overlap"
        counts[union] += 1
    rate = counts / steps
    sd = (q * (1 - q) / steps) ** 0.5
    assert abs(float(rate.mean()) - q) < 4 * sd / n ** 0.5 + 1e-9, "mean inclusion rate"
    assert float((rate - q).abs().max()) < 5 * sd, "an example's inclusion rate"


@pytest.mark.slow
def test_each_example_is_included_at_rate_q(runs):
    one, ranks, _ = runs
    per_rank = [r["indices"] for r in ranks]
    for rank, batches in enumerate(per_rank):
        assert all(i % 2 == rank for b in batches for i in b), "rank r samples its shard r::2"
    check_inclusion(per_rank, 400, 40 / 400)
    # the union is the batch one process draws from the same seed
    assert [sorted(a + b) for a, b in zip(*per_rank)] == [sorted(b) for b in one["indices"]]
    with pytest.raises(AssertionError, match="overlap"):  # mutation: both ranks keep everything
        check_inclusion([one["indices"], one["indices"]], 400, 0.1)
    steps = one["indices"]
    doubled = [sorted(set(a) | set(b)) for a, b in zip(steps[::2], steps[1::2])]
    with pytest.raises(AssertionError, match="inclusion rate"):  # mutation: q about doubled
        check_inclusion([doubled], 400, 0.1)


@pytest.mark.slow
def test_stopped_run_resumes_with_the_same_epsilon(runs, tmp_path):
    one, ranks, workdir = runs
    digits = load_dataset("digits", DataOptions(subset=300)).train
    straight = fit_classifier(workers.classifier_config(), digits)
    for r in ranks + [one]:
        assert r["resumed"]["epsilon"] == pytest.approx(straight.report.epsilon)
        assert r["resumed"]["steps"] == straight.report.steps
        assert _max_diff(r["resumed"]["weights"], straight.model.state_dict()) < 1e-5
    # the 2 processes' epoch-1 checkpoint, resumed by 1 process: the same logical batch
    ckpt = tmp_path / "c.pt"
    shutil.copy(Path(workdir) / "classifier-2-epoch1.pt", ckpt)
    alone = fit_classifier(workers.classifier_config(), digits, checkpoint=ckpt, resume=True)
    assert alone.report.epsilon == pytest.approx(straight.report.epsilon)
    assert _max_diff(alone.model.state_dict(), straight.model.state_dict()) < 1e-5
    # another logical batch is refused, whatever the number of processes
    shutil.copy(Path(workdir) / "classifier-2-epoch1.pt", ckpt)
    with pytest.raises(DPKitError, match="logical batch over 2 process"):
        fit_classifier(workers.classifier_config(batch_size=16), digits, checkpoint=ckpt,
                       resume=True)


@pytest.mark.slow
def test_gan_is_charged_once_per_logical_step(runs):
    one, ranks, _ = runs
    g0, g1 = ranks[0]["gan"], ranks[1]["gan"]
    assert g0["steps"] == g1["steps"] == one["gan"]["steps"]
    assert g0["epsilon"] == pytest.approx(one["gan"]["epsilon"])
    assert _max_diff(g0["discriminator"], g1["discriminator"]) == 0
    assert _max_diff(g0["generator"], g1["generator"], params_only=True) == 0
    assert not torch.allclose(g0["latent_probe"], g1["latent_probe"]), "latents are per rank"


# --- the command under torchrun -----------------------------------------------------------------

@pytest.mark.slow
def test_torchrun_train_classifier_writes_one_run(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "dpkit", "train-classifier", "--dataset", "digits", "--subset", "300",
           "--model", "mlp", "--hidden", "16", "--epochs", "1", "--batch-size", "32",
           "--noise-multiplier", "1.0", "--accountant", "rdp", "--out", str(out), "--quiet",
           "--json", "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, done.stdout  # rank 0 prints, the other rank does not
    printed = json.loads(lines[0])
    assert printed["world_size"] == 2
    assert json.loads((out / "result.json").read_text())["world_size"] == 2
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    assert len(list(tmp_path.iterdir())) == 1  # one run directory, nothing else written
    metrics = (out / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 1 and (out / "final.pt").is_file()
