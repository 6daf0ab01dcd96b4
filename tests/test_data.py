"""dpkit.data: every source on tiny synthetic files, the split options, and the error messages."""

from __future__ import annotations

import gzip
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dpkit.data import (DataOptions, ImageTensorDataset, dataset_from_record, get, load_dataset,
                        names)
from dpkit.data.digits import load_digits_split
from dpkit.data.tensors import to_channels
from dpkit.errors import DPKitError

RNG = np.random.default_rng(0)


# ---------- writers of synthetic dataset files ----------

def write_idx(path: Path, arr: np.ndarray, *, gz: bool) -> None:
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def write_mnist(folder: Path, *, gz: bool, n_train: int = 12, n_test: int = 5) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz=gz)
        out[prefix] = (images, labels)
    return out


def write_cifar(folder: Path, n: int = 4) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": [(i + j) % 10 for j in range(n)],
                         b"batch_label": b"synthetic"}, fh, protocol=2)
        out[name] = data
    return out


def fer_row(emotion: int, usage: str, value: int) -> str:
    return f'{emotion},"{" ".join([str(value)] * 2304)}",{usage}\n'


def write_fer(path: Path, extra: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ([fer_row(i % 7, "Training", i) for i in range(6)]
            + [fer_row(1, "PublicTest", 100), fer_row(2, "PrivateTest", 200),
               fer_row(3, "PrivateTest", 201)])
    path.write_text("emotion,pixels,Usage\n" + "".join(rows) + extra)


def write_png(path: Path, value: int, *, mode: str = "L", size: tuple[int, int] = (10, 10),
              fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 0)
    Image.new(mode, size, color).save(path, fmt)


def write_celeba(root: Path, *, attr: bool = True) -> list[int]:
    """8 images: partition 0 (train) for 4, 1 (valid) for 2, 2 (test) for 2; Male alternates."""
    folder = root / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    parts, males = [0, 0, 0, 0, 1, 1, 2, 2], [1, -1, 1, 1, -1, 1, -1, 1]
    for i in range(8):
        img = np.zeros((218, 178, 3), np.uint8)
        img[20:198] = 30 * i  # the central 178x178 square has value 30 i; the borders are black
        Image.fromarray(img).save(folder / f"{i + 1:06d}.jpg", quality=95)
    (root / "celeba" / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate(parts)))
    if attr:
        lines = ["8", "Smiling Male Young"]
        lines += [f"{i + 1:06d}.jpg  1 {m:2d} -1" for i, m in enumerate(males)]
        (root / "celeba" / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return males


# ---------- idx ----------

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_idx_layouts(tmp_path, gz, layout):
    folder = tmp_path if layout == "flat" else tmp_path / "MNIST" / "raw"
    written = write_mnist(folder, gz=gz)
    b = load_dataset("mnist", DataOptions(data_root=str(tmp_path)))
    assert (len(b.train), len(b.test), b.channels, b.image_size) == (12, 5, 1, 28)
    assert torch.equal(b.train.images[:, 0], torch.from_numpy(written["train"][0]))
    assert torch.equal(b.test.labels, torch.from_numpy(written["t10k"][1]).long())


def test_idx_truncated_file(tmp_path):
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DPKitError, match="truncated"):
        load_dataset("mnist", DataOptions(data_root=str(tmp_path)))


def test_split_test_trains_and_tests_on_the_test_files_alone(tmp_path):
    written = write_mnist(tmp_path, gz=True, n_test=40)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / name).unlink()  # only the t10k files, as in MNIST's test-set download
    with pytest.raises(DPKitError, match="train split not found"):
        load_dataset("mnist", DataOptions(data_root=str(tmp_path)))
    images = torch.from_numpy(written["t10k"][0])
    bundles = [load_dataset("mnist", DataOptions(data_root=str(tmp_path), split_test=10, seed=s))
               for s in (0, 1)]
    for b in bundles:
        assert (len(b.train), len(b.test)) == (30, 10)
        rows = torch.cat([b.train.images[:, 0], b.test.images[:, 0]])
        # a partition of the 40 files' images (every image is distinct), labels kept with them
        assert sorted(map(bytes, rows.numpy())) == sorted(map(bytes, images.numpy()))
        for x, y in zip(b.test.images[:, 0], b.test.labels):
            i = next(k for k in range(40) if torch.equal(images[k], x))
            assert y == int(written["t10k"][1][i])
    assert torch.equal(bundles[0].test.images, bundles[1].test.images)  # no seed moves the test
    b = load_dataset("mnist", DataOptions(data_root=str(tmp_path), split_test=10, subset=20))
    assert len(b.train) == 20 and len(b.heldout) == 10  # members within the training part
    assert dataset_from_record(b.split_record()).train.images.equal(b.train.images)
    with pytest.raises(DPKitError, match="split_test=40 leaves no training examples"):
        load_dataset("mnist", DataOptions(data_root=str(tmp_path), split_test=40))


def test_split_test_from_the_command_line(tmp_path, cli_runner):
    from dpkit.cli import cli
    write_mnist(tmp_path / "MNIST" / "raw", gz=True, n_train=0, n_test=60)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / "MNIST" / "raw" / name).unlink()
    out = tmp_path / "run"
    res = cli_runner.invoke(cli, ["train-classifier", "--dataset", "mnist", "--data-root",
                                  str(tmp_path), "--split-test", "12", "--model", "mlp",
                                  "--hidden", "16", "--no-dp", "--epochs", "1", "--batch-size",
                                  "16", "--quiet", "--json", "--out", str(out)],
                            catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["train_size"] == 48
    assert json.loads((out / "split.json").read_text())["options"]["split_test"] == 12
    res = cli_runner.invoke(cli, ["train-classifier", "--dataset", "mnist", "--data-root",
                                  str(tmp_path), "--split-test", "60", "--no-dp",
                                  "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "--split-test 60 leaves no training examples" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "bad").exists()


# ---------- CIFAR-10 ----------

@pytest.mark.parametrize("point_at_batches", [False, True])
def test_cifar10_pickles(tmp_path, point_at_batches):
    written = write_cifar(tmp_path / "cifar-10-batches-py")
    root = tmp_path / "cifar-10-batches-py" if point_at_batches else tmp_path
    b = load_dataset("cifar10", DataOptions(data_root=str(root)))
    assert (len(b.train), len(b.test), b.num_classes) == (20, 4, 10)
    assert b.train.images.shape[1:] == (3, 32, 32)
    first = written["data_batch_1"][0]  # row = 1024 red, 1024 green, 1024 blue values
    assert torch.equal(b.train.images[0, 1], torch.from_numpy(first[1024:2048].reshape(32, 32)))
    assert b.train.labels[:4].tolist() == [0, 1, 2, 3]
    assert b.test.labels.tolist() == [5, 6, 7, 8]


def test_cifar10_refuses_code_and_bad_shapes(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": print}))  # any callable: refused
    with pytest.raises(DPKitError, match="not a CIFAR-10 python batch"):
        load_dataset("cifar10", DataOptions(data_root=str(tmp_path)))
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(DPKitError, match="expected"):
        load_dataset("cifar10", DataOptions(data_root=str(tmp_path)))


# ---------- FER-2013 ----------

@pytest.mark.parametrize("where", ["root", "subfolder", "file"])
def test_fer2013_csv(tmp_path, where):
    csv_path = tmp_path / ("fer2013/fer2013.csv" if where == "subfolder" else "fer2013.csv")
    write_fer(csv_path)
    root = csv_path if where == "file" else tmp_path
    b = load_dataset("fer2013", DataOptions(data_root=str(root)))
    assert (len(b.train), len(b.test), b.num_classes) == (6, 3, 7)  # test = Public + Private
    assert b.train.images.shape[1:] == (1, 48, 48)
    assert b.train.images[:, 0, 5, 7].tolist() == list(range(6))
    assert b.train.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert b.test.labels.tolist() == [1, 2, 3] and b.test.images[2].unique().tolist() == [201]


@pytest.mark.parametrize("bad_row, why", [
    ('0,"1 2 3",Training\n', "3 pixels"),
    ('9,"' + " ".join(["0"] * 2304) + '",Training\n', "emotion 9"),
    ('1,"' + " ".join(["300"] * 2304) + '",PublicTest\n', "outside 0..255"),
    ('x,"' + " ".join(["0"] * 2304) + '",Training\n', "invalid literal"),
    ('1,"' + " ".join(["0"] * 2304) + '",Validation\n', "Usage"),
])
def test_fer2013_malformed_row_names_the_line(tmp_path, bad_row, why):
    write_fer(tmp_path / "fer2013.csv", extra=bad_row)
    with pytest.raises(DPKitError, match=f"line 11 is malformed.*{why}"):
        load_dataset("fer2013", DataOptions(data_root=str(tmp_path)))


def test_fer2013_icml_variant_header_with_spaces(tmp_path):
    write_fer(tmp_path / "fer2013.csv")
    text = (tmp_path / "fer2013.csv").read_text().splitlines(keepends=True)
    split = [(r.split(",", 1)[0], *r.split(",", 1)[1].rsplit(",", 1)) for r in text[1:]]
    rows = [f"{e},{u.strip()},{p}\n" for e, p, u in split]  # columns: emotion, Usage, pixels
    (tmp_path / "icml_face_data.csv").write_text("emotion, Usage, pixels\n" + "".join(rows))
    (tmp_path / "fer2013.csv").unlink()
    b = load_dataset("fer2013", DataOptions(data_root=str(tmp_path)))
    assert (len(b.train), len(b.test)) == (6, 3)
    assert b.train.images[:, 0, 0, 0].tolist() == list(range(6))


def test_fer2013_wrong_header(tmp_path):
    (tmp_path / "fer2013.csv").write_text("label,pixels\n0,1 2\n")
    with pytest.raises(DPKitError, match="lacks the column"):
        load_dataset("fer2013", DataOptions(data_root=str(tmp_path)))


# ---------- image folders ----------

def test_imagefolder_flat_split_is_fixed_and_grayscale(tmp_path):
    for c, value in (("bird", 10), ("ant", 200), ("cat", 90)):
        for i in range(6):
            write_png(tmp_path / c / f"{i}.png", value + i)
    write_png(tmp_path / ".ipynb_checkpoints" / "0.png", 0)  # hidden: not a class
    b = load_dataset("imagefolder", DataOptions(data_root=str(tmp_path)))
    assert b.num_classes == 3 and b.channels == 1 and b.image_size == 10
    assert b.class_names == ("ant", "bird", "cat")
    assert (len(b.train), len(b.test)) == (15, 3)  # 6 // 5 = 1 test image per class
    assert b.train.labels.bincount().tolist() == [5, 5, 5]
    ant = b.train.images[b.train.labels == 0, 0, 0, 0]  # classes sorted: ant=0, bird=1, cat=2
    assert ((ant >= 200) & (ant < 206)).all()
    again = load_dataset("imagefolder", DataOptions(data_root=str(tmp_path), seed=5))
    assert torch.equal(again.test.images, b.test.images)  # the split ignores the seed


def test_imagefolder_train_test_layout_rgb_mixed_sizes(tmp_path):
    write_png(tmp_path / "train" / "a" / "0.png", 50, size=(12, 8))  # first image: 12 wide, 8 high
    write_png(tmp_path / "train" / "a" / "1.jpg", 60, mode="RGB", size=(24, 16), fmt="JPEG")
    write_png(tmp_path / "train" / "b" / "0.bmp", 70, size=(30, 10), fmt="BMP")
    write_png(tmp_path / "test" / "b" / "0.png", 80, mode="RGB", size=(12, 8))
    (tmp_path / "train" / "b" / "notes.txt").write_text("ignored")
    b = load_dataset("imagefolder", DataOptions(data_root=str(tmp_path)))
    assert b.train.images.shape == (3, 3, 8, 12) and b.test.images.shape == (1, 3, 8, 12)
    assert b.train.labels.tolist() == [0, 0, 1] and b.test.labels.tolist() == [1]
    assert b.train.images[0].unique().tolist() == [50]  # grayscale PNG repeated in RGB
    assert b.test.images[0, :, 3, 3].tolist() == [80, 175, 0]
    sized = load_dataset("imagefolder", DataOptions(data_root=str(tmp_path), image_size=6))
    assert sized.train.images.shape == (3, 3, 6, 6)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DPKitError, match="no class sub-folders"):
        load_dataset("imagefolder", DataOptions(data_root=str(tmp_path)))
    write_png(tmp_path / "a" / "0.png", 1)
    with pytest.raises(DPKitError, match="empty test split"):
        load_dataset("imagefolder", DataOptions(data_root=str(tmp_path)))
    for i in range(1, 5):
        write_png(tmp_path / "a" / f"{i}.png", 1)
        write_png(tmp_path / "b" / f"{i}.png", 2)
    with pytest.raises(DPKitError, match=r"classes=\(0, 2\) has \[2\] out of range"):
        load_dataset("imagefolder", DataOptions(data_root=str(tmp_path), classes=(0, 2)))
    (tmp_path / "b" / "9.png").write_bytes(b"not a png")
    with pytest.raises(DPKitError, match="9.png is not a readable image"):
        load_dataset("imagefolder", DataOptions(data_root=str(tmp_path)))


# ---------- CelebA ----------

def test_celeba_tiny(tmp_path):
    males = write_celeba(tmp_path)
    b = load_dataset("celeba", DataOptions(data_root=str(tmp_path)))
    assert (len(b.train), len(b.test), b.num_classes) == (4, 2, 2)
    assert b.train.images.shape[1:] == (3, 64, 64)
    assert b.train.labels.tolist() == [int(m == 1) for m in males[:4]]
    assert b.test.labels.tolist() == [int(m == 1) for m in males[6:]]
    # the centre crop drops the black borders: image i is uniformly 30 i (JPEG: +-3)
    for k, i in enumerate([6, 7]):
        assert (b.test.images[k].int() - 30 * i).abs().max() <= 3
    small = load_dataset("celeba", DataOptions(data_root=str(tmp_path / "celeba"), image_size=16))
    assert small.train.images.shape[1:] == (3, 16, 16)


def test_celeba_without_attributes_warns(tmp_path):
    write_celeba(tmp_path, attr=False)
    with pytest.warns(UserWarning, match="every label is 0"):
        b = load_dataset("celeba", DataOptions(data_root=str(tmp_path), image_size=8))
    assert b.train.labels.tolist() == [0, 0, 0, 0]


def test_celeba_missing_image(tmp_path):
    write_celeba(tmp_path)
    (tmp_path / "celeba" / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(DPKitError, match="000002.jpg"):
        load_dataset("celeba", DataOptions(data_root=str(tmp_path)))


# ---------- missing data, registry ----------

@pytest.mark.parametrize("name", ["mnist", "kmnist", "cifar10", "fer2013", "celeba"])
def test_missing_dataset_names_folders(tmp_path, name):
    root = tmp_path / "nothing-here"
    with pytest.raises(DPKitError, match="looked in") as err:
        load_dataset(name, DataOptions(data_root=str(root)))
    msg = str(err.value)
    assert str(root) in msg and "data_root=DIR" in msg and "\n" not in msg


@pytest.mark.parametrize("empty_root", [True, False])
def test_every_registered_dataset_loads_or_raises_dpkit_error(tmp_path, empty_root):
    root = str(tmp_path) if empty_root else None
    for name in names():
        try:
            b = load_dataset(name, DataOptions(data_root=root, image_size=8, subset=10))
        except DPKitError as exc:
            assert str(exc) and "\n" not in str(exc)
        else:
            assert len(b.train) == 10 and b.train.images.shape[1:] in ((1, 8, 8), (3, 8, 8))


def test_registry_starts_with_the_declared_builtins_and_registers_explicitly(monkeypatch):
    import dpkit.data
    import dpkit.data.registry as registry
    from dpkit.data.builtin import BUILTIN_SOURCES

    assert names() == [s.name for s in BUILTIN_SOURCES]  # the table builtin.py declares, in order
    assert names()[:3] == ["digits", "mnist", "fashion-mnist"]
    assert get("imagefolder").num_classes == 0 and get("cifar10").num_classes == 10
    with pytest.raises(DPKitError, match="choose one of digits, mnist"):
        get("svhn")
    with pytest.raises(DPKitError, match="already registered"):
        dpkit.data.register(get("digits"))
    monkeypatch.setattr(registry, "_REGISTRY", {})
    assert names() == []
    dpkit.data.register_builtin_datasets()
    dpkit.data.register_builtin_datasets()  # idempotent
    assert names() == [s.name for s in BUILTIN_SOURCES]


def test_load_dataset_runs_the_sources_own_file_check(monkeypatch, tmp_path):
    import dpkit.data.registry as registry
    from dpkit.data import DatasetSource

    seen = []

    def check(root, public):
        seen.append((root, public))
        raise DPKitError("files clash")

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(DatasetSource("checked", load_digits_split, 10, "digits, checked",
                                    check_files=check))
    with pytest.raises(DPKitError, match="files clash"):
        load_dataset("checked", DataOptions(data_root=str(tmp_path), public="holdout"))
    assert seen == [(tmp_path, "holdout")]
    assert get("digits").check_files is None and get("cifar10").check_files is None
    assert all(get(n).check_files is not None for n in ("mnist", "fashion-mnist", "kmnist"))


# ---------- splits and options (on the embedded digits) ----------

def test_digits_fixed_disjoint_split():
    from sklearn.datasets import load_digits

    train, test = load_digits_split("train"), load_digits_split("test")
    assert (train.images.shape, test.images.shape) == ((1500, 1, 8, 8), (297, 1, 8, 8))
    full = torch.from_numpy(load_digits().images * (255.0 / 16.0)).round().to(torch.uint8)
    rows = lambda x: sorted(map(bytes, x.reshape(x.shape[0], -1).numpy()))  # noqa: E731
    assert rows(torch.cat([train.images, test.images])) == rows(full)  # a partition of the 1797
    assert torch.equal(load_digits_split("test").images, test.images)


def test_subset_holdout_public_are_disjoint_deterministic_and_recorded(tmp_path):
    opts = DataOptions(subset=400, public="holdout", public_size=300, seed=3)
    b = load_dataset("digits", opts)
    tr, ho, pu = (set(x.tolist()) for x in (b.train_indices, b.heldout_indices, b.public_indices))
    assert (len(tr), len(ho), len(pu)) == (400, 800, 300)
    assert not (tr & ho) and not (tr & pu) and not (ho & pu) and tr | ho | pu == set(range(1500))
    source = load_digits_split("train")
    assert torch.equal(b.train.images, source.images[b.train_indices])
    assert torch.equal(b.heldout.labels, source.labels[b.heldout_indices])
    assert torch.equal(b.public.images, source.images[b.public_indices])
    again = load_dataset("digits", opts)
    assert torch.equal(again.train_indices, b.train_indices)
    other = load_dataset("digits", DataOptions(subset=400, public="holdout", public_size=300,
                                               seed=4))
    assert not torch.equal(other.train_indices, b.train_indices)
    record = json.loads(json.dumps(b.split_record()))
    back = dataset_from_record(record)
    assert torch.equal(back.train.images, b.train.images)
    assert torch.equal(back.public_indices, b.public_indices)
    record["train_indices"] = record["train_indices"][1:] + [record["heldout_indices"][0]]
    with pytest.raises(DPKitError, match="differs from the data the run was trained on"):
        dataset_from_record(record)


def test_public_from_another_dataset_matches_shape(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py", n=4)
    b = load_dataset("digits", DataOptions(data_root=str(tmp_path), public="cifar10",
                                           public_size=3))
    assert b.public.images.shape == (3, 1, 8, 8)  # converted to the private data's shape
    assert len(b.train) == 1500  # all training data stays private
    assert len(b.heldout) == 0
    with pytest.raises(DPKitError, match="is the private dataset itself"):
        load_dataset("digits", DataOptions(public="digits"))


def test_classes_filter_relabels():
    full = load_dataset("digits")
    b = load_dataset("digits", DataOptions(classes=(7, 3)))
    assert b.num_classes == 2 and set(b.train.labels.tolist()) == {0, 1}
    assert b.class_names == ("7", "3") and full.class_names == tuple("0123456789")
    assert torch.equal(b.test.images[b.test.labels == 0], full.test.images[full.test.labels == 7])
    assert int((b.test.labels == 1).sum()) == int((full.test.labels == 3).sum())
    with pytest.raises(DPKitError, match="out of range"):
        load_dataset("digits", DataOptions(classes=(3, 10)))


def test_image_size_and_channel_conversions():
    b = load_dataset("digits", DataOptions(image_size=28, grayscale=False))
    assert b.train.images.shape[1:] == (3, 28, 28) and (b.channels, b.image_size) == (3, 28)
    assert torch.equal(b.train.images[:, 0], b.train.images[:, 2])
    rgb = torch.tensor([[[[255]], [[0]], [[0]]], [[[10]], [[20]], [[30]]]], dtype=torch.uint8)
    assert to_channels(rgb, 1).flatten().tolist() == [76, 18]  # ITU-R 601 luma, rounded
    assert to_channels(to_channels(rgb, 1), 3).shape == (2, 3, 1, 1)


def test_getitems_batch_equals_stacked_items():
    ds = ImageTensorDataset(torch.randint(0, 256, (9, 3, 4, 4), dtype=torch.uint8), torch.arange(9))
    idx = [4, 0, 8, 4]
    x, y = ds.__getitems__(idx)
    items = [ds[i] for i in idx]
    assert torch.equal(x, torch.stack([a for a, _ in items]))
    assert torch.equal(y, torch.stack([b for _, b in items]))
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    assert torch.equal(ds.tensors()[0][idx], x)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_system_folder():
    b = load_dataset("fashion-mnist")
    assert (len(b.train), len(b.test), b.channels, b.image_size) == (60000, 10000, 1, 28)
    assert b.train.labels.min() == 0 and b.train.labels.max() == 9
    assert b.test.labels.bincount().tolist() == [1000] * 10


def test_public_dataset_reading_the_private_test_files_is_refused(tmp_path):
    """One flat --data-root with MNIST-format files would serve both names: refuse, don't mix."""

    def write(path, arr, code):
        header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        with gzip.open(path, "wb") as fh:
            fh.write(header + arr.astype(np.uint8).tobytes())

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        write(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)), 3)
        write(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)), 1)
    with pytest.raises(DPKitError, match="would read.*MNIST/raw"):
        load_dataset("kmnist", DataOptions(data_root=str(tmp_path), public="mnist"))
    own = tmp_path / "MNIST" / "raw"
    own.mkdir(parents=True)
    rng = np.random.default_rng(1)
    write(own / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (10, 28, 28)), 3)
    write(own / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, (10,)), 1)
    bundle = load_dataset("kmnist", DataOptions(data_root=str(tmp_path), public="mnist", public_size=5))
    assert len(bundle.public) == 5 and len(bundle.test) == 10


def test_download_without_network_is_a_one_line_error(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    from dpkit.data import DataOptions, load_dataset
    from dpkit.errors import DPKitError

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried mirrors...")

    monkeypatch.setattr(tvd, "MNIST", offline)
    with pytest.raises(DPKitError, match="downloading mnist failed"):
        load_dataset("mnist", DataOptions(data_root=str(tmp_path / "empty"), download=True))
