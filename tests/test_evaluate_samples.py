"""``dpkit evaluate --samples PATH --dataset NAME``: generated images from anywhere (issue 13).

A copier (training images + tiny noise) is flagged by MiFID's auto threshold, C_T << 0 and
authenticity ~ 0, and its per-sample CSV names the training image each sample copies; fresh real
held-out images are flagged by none. Folders, npz files and ``dpkit sample`` directories give the
same numbers; bad input is one line, exit 2, and writes nothing.
"""

from __future__ import annotations

import csv
import re
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dpkit.cli import cli
from dpkit.data import DataOptions, load_dataset, match_channels
from dpkit.data.samples import load_sample_images
from dpkit.errors import DPKitError

SIZE = 32
BASE = ["evaluate", "--dataset", "digits", "--features", "random-cnn", "--no-cache", "--json",
        "--quiet", "--metric", "fid,mifid,ct,authenticity", "--ct-cells", "3"]


@pytest.fixture(scope="module")
def digits32():
    return load_dataset("digits", DataOptions(image_size=SIZE))


@pytest.fixture(scope="module")
def copier(digits32, tmp_path_factory):
    """600 training images in a shuffled order, each moved by at most 2 grey levels."""
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(digits32.train.images), generator=g)[:600]
    noise = torch.randint(-2, 3, (600, 1, SIZE, SIZE), generator=g)
    images = (digits32.train.images[order].int() + noise).clamp(0, 255).to(torch.uint8)
    path = tmp_path_factory.mktemp("copier") / "copies.npz"
    np.savez(path, images=images.numpy())
    return path, order, images


def _run(cli_runner, args):
    res = cli_runner.invoke(cli, args)
    return res, (json.loads(res.output) if res.exit_code == 0 else None)


def test_copier_is_flagged_by_every_measure_and_the_csv_names_the_copied_images(
        cli_runner, copier, tmp_path):
    path, order, _ = copier
    out = tmp_path / "ev"
    res, r = _run(cli_runner, BASE + ["--samples", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert {"mifid", "memorization_distance", "mifid_threshold", "ct", "authenticity",
            "features", "mifid_threshold_rule", "samples", "dataset"} <= set(r)
    assert r["features"] == "random-cnn" and r["num_samples"] == 600
    assert r["memorization_distance"] < r["mifid_threshold"]  # MiFID (auto) flags it
    assert r["mifid_threshold"] == pytest.approx(0.9 * r["heldout_memorization_distance"])
    assert r["mifid"] > 100 * r["fid"]
    assert r["ct"] < -5 and r["authenticity"] < 0.05
    with open(out / "memorization.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 600
    assert [int(row["nearest_train"]) for row in rows] == order.tolist()
    for name in ("config.json", "evaluation-generative.json", "evaluations.jsonl",
                 "memorization-gallery.png", "result.json"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["command"] == "evaluate-samples" and config["dataset"] == "digits"


def test_fresh_held_out_images_are_flagged_by_none(cli_runner, digits32, tmp_path):
    path = tmp_path / "fresh.npz"
    np.savez(path, images=digits32.test.images.numpy())
    res, r = _run(cli_runner, BASE + ["--samples", str(path), "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    assert r["memorization_distance"] > r["mifid_threshold"]
    assert r["memorization_distance_thresholded"] == 1.0
    assert r["mifid"] == pytest.approx(r["fid"])
    assert abs(r["ct"]) < 1 and r["authenticity"] > 0.5


def test_a_png_folder_and_a_sample_directory_give_the_npz_numbers(cli_runner, copier, tmp_path):
    path, _, images = copier
    folder = tmp_path / "pngs" / "nested"
    folder.mkdir(parents=True)
    for i, img in enumerate(images[:200]):
        Image.fromarray(img[0].numpy()).save(folder / f"{i:03d}.png")
    few = tmp_path / "few.npz"
    np.savez(few, images=images[:200].numpy())
    sample_dir = tmp_path / "sample-run"  # what `dpkit sample --format npz` writes
    sample_dir.mkdir()
    (sample_dir / "config.json").write_text(json.dumps({"command": "sample"}))
    np.savez(sample_dir / "samples.npz", images=images[:200].numpy())
    results = []
    for i, src in enumerate((tmp_path / "pngs", few, sample_dir)):
        res, r = _run(cli_runner, BASE + ["--samples", str(src), "--out", str(tmp_path / f"e{i}")])
        assert res.exit_code == 0, res.output
        results.append(r)
    for key in ("fid", "memorization_distance", "ct", "authenticity"):
        assert results[0][key] == pytest.approx(results[1][key]) == pytest.approx(results[2][key])


def test_rgb_samples_are_matched_to_a_grayscale_dataset(digits32):
    gray = digits32.train.images[:8]
    rgb = gray.expand(-1, 3, -1, -1)
    torch.testing.assert_close(match_channels(rgb, 1), gray)  # equal channels: exact
    torch.testing.assert_close(match_channels(gray, 3), rgb)
    colour = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert match_channels(colour, 1).unique().item() == 76  # PIL's "L" of pure red


def _write(path: Path, kind: str) -> Path:
    if kind == "empty":
        path.mkdir()
    elif kind == "mixed-sizes":
        path.mkdir()
        Image.new("L", (8, 8)).save(path / "a.png")
        Image.new("L", (16, 16)).save(path / "b.png")
    elif kind == "not-an-image":
        path.mkdir()
        Image.new("L", (8, 8)).save(path / "a.png")
        (path / "notes.txt").write_text("hello")
    elif kind == "corrupt-png":
        path.mkdir()
        Image.new("L", (8, 8)).save(path / "a.png")
        (path / "b.png").write_bytes(b"not a png")
    elif kind == "float-npz":
        path = path.with_suffix(".npz")
        np.savez(path, images=np.zeros((4, 1, 8, 8), np.float32))
    elif kind == "channels":
        path = path.with_suffix(".npz")
        np.savez(path, images=np.zeros((4, 2, 8, 8), np.uint8))
    elif kind == "not-square":
        path = path.with_suffix(".npz")
        np.savez(path, images=np.zeros((4, 1, 8, 6), np.uint8))
    elif kind == "unknown-file":
        path = path.with_suffix(".txt")
        path.write_text("x")
    return path


@pytest.mark.parametrize("kind,message", [
    ("empty", "holds no images"), ("mixed-sizes", "mixes image sizes"),
    ("not-an-image", "not images (notes.txt)"), ("corrupt-png", "not a readable image"),
    ("float-npz", "not uint8"), ("channels", "1 or 3 channels"), ("not-square", "not square"),
    ("unknown-file", "neither a folder of images nor"),
])
def test_bad_samples_are_one_line_exit_2_and_write_nothing(cli_runner, tmp_path, kind, message):
    path = _write(tmp_path / "bad", kind)
    out = tmp_path / "ev"
    res = cli_runner.invoke(cli, BASE + ["--samples", str(path), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(DPKitError, match=re.escape(message)):
        load_sample_images(path)


@pytest.mark.parametrize("args,message", [
    (["--dataset", "digits"], "either a RUN directory or --samples"),
    (["--samples", "SAMPLES"], "needs --dataset"),
    (["--samples", "SAMPLES", "--dataset", "digits", "--metric", "accuracy"],
     "cannot be computed from images alone"),
    (["--samples", "SAMPLES", "--dataset", "digits", "--image-size", "28"], "but --image-size 28"),
])
def test_bad_combinations_are_refused(cli_runner, copier, tmp_path, args, message):
    path, _, _ = copier
    args = [str(path) if a == "SAMPLES" else a for a in args]
    res = cli_runner.invoke(cli, ["evaluate", "--quiet"] + args + ["--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_data_options_with_a_run_directory_are_refused(cli_runner, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    res = cli_runner.invoke(cli, ["evaluate", str(run), "--dataset", "digits"])
    assert res.exit_code == 2 and "apply to --samples only" in res.output
