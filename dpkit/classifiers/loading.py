"""``load_classifier``: a trained classifier from its run directory, with the exact data split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dpkit.classifiers.models import ModelConfig, build_model
from dpkit.data import DatasetBundle, dataset_from_record
from dpkit.engine import open_run_dir
from dpkit.errors import DPKitError

__all__ = ["LoadedClassifier", "load_classifier"]


@dataclass(frozen=True)
class LoadedClassifier:
    """A classifier run: ``model`` (eval mode, has ``features(x)``), its config.json, the data
    split it was trained on (``bundle.train`` = members) and the run directory."""

    model: nn.Module
    config: dict[str, Any]
    bundle: DatasetBundle
    run_dir: Path

    @property
    def num_classes(self) -> int:
        return self.bundle.num_classes


def load_classifier(run_dir: str | Path, *, device: torch.device | str = "cpu") -> LoadedClassifier:
    """Load final.pt (or, for an unfinished run, the latest checkpoint.pt) of a classifier run."""
    run = open_run_dir(run_dir)
    config = run.config
    if config.get("command") != "train-classifier":
        raise DPKitError(f"{run.path} is a '{config.get('command')}' run, not a classifier; "
                         f"pass a directory written by 'dpkit train-classifier'")
    bundle = dataset_from_record(run.read_json("split.json"))
    model = build_model(ModelConfig.from_dict(config["model"]), in_channels=bundle.channels,
                        image_size=bundle.image_size, num_classes=bundle.num_classes)
    if run.file("final.pt").is_file():
        state = torch.load(run.file("final.pt"), map_location="cpu", weights_only=True)
    elif run.file("checkpoint.pt").is_file():
        state = torch.load(run.file("checkpoint.pt"), map_location="cpu",
                           weights_only=False)["models"]["model"]
    else:
        raise DPKitError(f"{run.path} holds no weights (final.pt or checkpoint.pt); train first")
    model.load_state_dict(state)
    return LoadedClassifier(model=model.to(device).eval(), config=config, bundle=bundle,
                            run_dir=run.path)
