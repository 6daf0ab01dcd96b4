"""Per-sample nearest neighbours, the data-copying test C_T and authenticity on tiny features.

Known answers: a copier (generated = training features + tiny noise) has C_T << 0, authenticity
~ 0 and names the training sample it copied; fresh samples of the same distribution have C_T ~ 0
and authenticity well above 1/2. Naive references: a double loop for the nearest neighbours, the
reference code's Z_U formula from ranks, the paper's authenticity rule sample by sample.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from dpkit.metrics.authenticity import authenticity
from dpkit.metrics.data_copying import data_copying_test, z_u
from dpkit.metrics.memorization import most_copied, nearest_neighbours
from dpkit.metrics.mifid import memorization_distance
from dpkit.metrics.neighbours import nearest


def _mixture(n: int, gen: torch.Generator) -> torch.Tensor:
    """n points of a 4-component Gaussian mixture in 8 dimensions (positive, like ReLU features)."""
    centres = torch.tensor([[4.0] * 4 + [0.5] * 4, [0.5] * 4 + [4.0] * 4,
                            [4.0, 0.5] * 4, [0.5, 4.0] * 4])
    comp = torch.randint(0, 4, (n,), generator=gen)
    return centres[comp] + torch.randn(n, 8, generator=gen)


@pytest.fixture(scope="module")
def sets():
    gen = torch.Generator().manual_seed(0)
    train, heldout, fresh = _mixture(600, gen), _mixture(400, gen), _mixture(400, gen)
    copied = torch.randint(0, 600, (400,), generator=gen)
    copier = train[copied] + 1e-3 * torch.randn(400, 8, generator=gen)
    return train, heldout, fresh, copier, copied


def test_nearest_matches_a_double_loop_and_is_chunk_independent():
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(13, 5, generator=gen, dtype=torch.float64)
    p = torch.randn(17, 5, generator=gen, dtype=torch.float64)
    for distance in ("l2", "cosine"):
        d, i = nearest(q, p, distance=distance, max_entries=20)  # 1-row blocks
        for a in range(13):
            ref = [float(torch.dist(q[a], p[b])) if distance == "l2" else
                   1 - abs(float(torch.nn.functional.cosine_similarity(q[a], p[b], dim=0)))
                   for b in range(17)]
            assert int(i[a]) == int(np.argmin(ref)) and float(d[a]) == pytest.approx(min(ref))
        assert torch.equal(nearest(q, p, distance=distance)[1], i)
    d, i = nearest(p, p, exclude_self=True, max_entries=40)
    assert (i != torch.arange(17)).all() and (d > 0).all()


def test_nearest_neighbours_names_the_copied_training_sample(sets):
    train, heldout, _, copier, copied = sets
    nn = nearest_neighbours(copier, train, heldout, max_entries=1000)
    assert torch.equal(nn.train_index, copied)
    assert (nn.train_distance < 1e-6).all() and (nn.heldout_distance > nn.train_distance).all()
    # same distance as MiFID: its mean is MiFID's memorization distance
    assert float(nn.train_distance.mean()) == pytest.approx(memorization_distance(copier, train))
    counts = torch.bincount(copied)
    assert nn.most_copied[0] == (int(torch.argmax(counts)), int(counts.max()))
    assert len(nn.most_copied) == 10 and sum(c for _, c in most_copied(copied, top=1000)) == 400
    assert torch.equal(nn.closest(3), torch.argsort(nn.train_distance)[:3])


def test_z_u_equals_the_reference_formula_from_ranks():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(0.5, 1, size=45)
    ranks = np.argsort(np.argsort(np.concatenate([a, b]))) + 1
    u = ranks[:30].sum() - 30 * 31 / 2  # pairs in which the generated distance is larger
    assert z_u(a, b) == pytest.approx((u - (30 * 45 / 2 - 0.5)) / math.sqrt(30 * 45 * 76 / 12))
    assert z_u(a, b) < 0 < z_u(b, a)  # a is smaller: the "copying" side


def test_copier_has_ct_far_below_zero_and_no_authentic_sample(sets):
    train, heldout, _, copier, _ = sets
    ct = data_copying_test(copier, train, heldout, cells=5, seed=0)
    assert ct.ct < -3 and ct.cells_used == 5
    assert sum(ct.cell_weights) == pytest.approx(1.0) and sum(ct.cell_generated) == 400
    assert authenticity(copier, train).authenticity < 0.05


def test_fresh_samples_have_ct_near_zero_and_high_authenticity(sets):
    train, heldout, fresh, _, _ = sets
    ct = data_copying_test(fresh, train, heldout, cells=5, seed=0)
    assert abs(ct.ct) < 2
    assert authenticity(fresh, train).authenticity > 0.5
    assert data_copying_test(fresh, train, heldout, cells=5, seed=0) == ct  # seeded k-means


def test_ct_weights_cells_by_heldout_share_and_drops_sparse_cells(sets):
    train, heldout, fresh, _, _ = sets
    res = data_copying_test(fresh[:30], train, heldout, cells=5, seed=0)  # no cell has > 20
    assert math.isnan(res.ct) and res.cells_used == 0 and res.min_generated == 20
    res = data_copying_test(fresh, train, heldout, cells=5, seed=0, tau=0.0)
    w, z = np.array(res.cell_weights), np.array(res.cell_z)
    assert res.ct == pytest.approx(float((w * z).sum() / w.sum()))
    with pytest.raises(ValueError, match="fewer cells"):
        data_copying_test(fresh, train, heldout[:3], cells=5, seed=0)


def test_authenticity_follows_the_papers_rule_sample_by_sample():
    gen = torch.Generator().manual_seed(2)
    train, g = torch.randn(40, 3, generator=gen), torch.randn(25, 3, generator=gen)
    res = authenticity(g, train, max_entries=50)
    expected = []
    for x in g:
        j = int(torch.argmin(((train - x) ** 2).sum(1)))
        others = torch.cat([train[:j], train[j + 1:]])
        expected.append(float(torch.dist(x, train[j])) > float(((others - train[j]) ** 2)
                                                                .sum(1).sqrt().min()))
    assert res.authentic.tolist() == expected
    assert res.authenticity == pytest.approx(sum(expected) / 25)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny non-private train-gan run on digits and a tiny classifier for its features."""
    from dpkit.classifiers import ClassifierConfig, ModelConfig, train_classifier
    from dpkit.data import DataOptions
    from dpkit.gan import GANConfig, train_gan

    root = tmp_path_factory.mktemp("runs")
    train_gan(GANConfig(dataset="digits", data=DataOptions(image_size=28, subset=256),
                        latent_dim=16, g_width=8, d_width=8, epochs=1, batch_size=64),
              out=root / "gan")
    train_classifier(ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(32,)), epochs=1,
                                      batch_size=128, robust_eval_size=0),
                     dataset="digits", data=DataOptions(), out=root / "clf")
    return root / "gan", root / "clf"


def test_evaluate_run_writes_per_sample_files_and_one_json_object(runs, cli_runner, tmp_path):
    from PIL import Image

    from dpkit.cli import cli
    from dpkit.evaluation.generative import MEMORIZATION_COLUMNS
    from dpkit.gan import load_gan

    gan, clf = runs
    res = cli_runner.invoke(cli, ["evaluate", str(gan), "--metric", "mifid,ct,authenticity",
                                  "--features", f"classifier:{clf}", "--num-samples", "150",
                                  "--ct-cells", "3", "--cache-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {"mifid", "memorization_distance", "mifid_threshold", "ct", "authenticity", "features",
            "most_copied", "memorization_csv", "memorization_gallery"} <= set(out)
    assert 0 <= out["authenticity"] <= 1 and math.isfinite(out["ct"])
    assert 1 <= len(out["most_copied"]) <= 10
    assert sum(m["count"] for m in out["most_copied"]) <= 150

    with open(gan / "memorization.csv") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == MEMORIZATION_COLUMNS and len(rows) == 1 + 150
    bundle = load_gan(gan).bundle
    train_idx = [int(r[1]) for r in rows[1:]]
    assert all(0 <= i < len(bundle.train.images) for i in train_idx)
    assert all(0 <= int(r[3]) < len(bundle.test.images) for r in rows[1:])
    # the mean of the per-sample distances is MiFID's memorization distance
    assert np.mean([float(r[2]) for r in rows[1:]]) == pytest.approx(out["memorization_distance"])
    counts = np.bincount(train_idx)
    assert out["most_copied"][0] == {"train_index": int(counts.argmax()),
                                     "count": int(counts.max())}

    gallery = Image.open(gan / "memorization-gallery.png")
    side = bundle.train.images.shape[-1] + 2  # save_image pads by 2
    assert gallery.size == (16 * side + 2, 2 * side + 2)
    saved = json.loads((gan / "evaluation-generative.json").read_text())
    assert saved["ct"] == out["ct"] and saved["memorization_csv"] == str(gan / "memorization.csv")

    text = cli_runner.invoke(cli, ["evaluate", str(gan), "--metric", "ct,authenticity",
                                   "--features", f"classifier:{clf}", "--num-samples", "150",
                                   "--ct-cells", "3", "--cache-dir", str(tmp_path)])
    assert text.exit_code == 0, text.output
    assert "C_T" in text.output and "authentic" in text.output and "MiFID" not in text.output


@pytest.mark.parametrize("cells", ["0", "200"])  # invalid; more cells than held-out images fill
def test_bad_ct_cells_exit_2_naming_the_flag(runs, cli_runner, tmp_path, cells):
    from dpkit.cli import cli

    gan, clf = runs
    res = cli_runner.invoke(cli, ["evaluate", str(gan), "--metric", "ct", "--features",
                                  f"classifier:{clf}", "--num-samples", "50", "--ct-cells", cells,
                                  "--cache-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--ct-cells" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
