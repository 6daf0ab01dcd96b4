"""`dpkit report`: one self-contained HTML page for a set of runs.

Four tiny runs are trained once (non-private, ε = 8, ε = 8 without Poisson sampling, a tiny DP
GAN); attacks and audits whose outcome a test needs are written by hand in the layout
``dpkit attack`` / ``dpkit audit`` write.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dpkit.cli import cli
from dpkit.report import SECTION_IDS, roc_bound_excess

pytestmark = pytest.mark.filterwarnings("ignore:poisson_sampling=False:UserWarning")

_CLF = ["train-classifier", "--dataset", "digits", "--model", "mlp", "--hidden", "16",
        "--epochs", "1", "--quiet"]
_GAN = ["train-gan", "--dataset", "digits", "--image-size", "28", "--subset", "200", "--epochs",
        "1", "--batch-size", "40", "--latent-dim", "8", "--g-width", "8", "--d-width", "8",
        "--noise-multiplier", "1.2", "--quiet"]
RUNS = {"clf-nodp": [*_CLF, "--no-dp"], "clf-eps8": [*_CLF, "--epsilon", "8"],
        "clf-nopoisson": [*_CLF, "--epsilon", "8", "--no-poisson"], "gan": _GAN}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    runner = CliRunner()
    for name, args in RUNS.items():
        res = runner.invoke(cli, [*args, "--out", str(root / name)])
        assert res.exit_code == 0, res.output
    return root


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    res = CliRunner().invoke(cli, ["report", str(runs), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    return out, json.loads(res.output)


class _Page(HTMLParser):
    """The summary table's rows (cell texts), every <img> src and every element id."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.headers: list[str] = []
        self.images: list[str] = []
        self.ids: set[str] = set()
        self._table = self._cell = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table" and attrs.get("id") == "summary-table":
            self._table = True
        if self._table and tag == "tr":
            self.rows.append([])
        if self._table and tag in ("td", "th"):
            self._cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = False
        if tag in ("td", "th"):
            self._cell = False

    def handle_data(self, data):
        if self._table and self._cell:
            self.rows[-1][-1] += data


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    return page


def _report(paths: list[Path], out: Path, *extra: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["report", *map(str, paths), "--out", str(out), *extra])
    return res.exit_code, res.output


def test_report_is_self_contained_with_one_row_per_run(runs, report):
    out, printed = report
    assert printed["report"] == str(out) and printed["runs"] == len(RUNS)
    html = out.read_text()
    assert not re.search(r"https?://|src=\"/|href=\"/|url\(|@import", html)
    page = _parse(out)
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert set(SECTION_IDS) <= page.ids
    assert {f"run-{i}" for i in range(len(RUNS))} <= page.ids
    header, *rows = page.rows
    assert header[0] == "run" and "ε" in header and "test acc." in header
    assert "C_T" not in header  # no run has a value for it: the column is left out
    assert sorted(r[0] for r in rows) == sorted(RUNS)
    for row in rows:  # ε shown is the run's privacy.json
        privacy = json.loads((runs / row[0] / "privacy.json").read_text())
        shown = row[header.index("ε")]
        if privacy["epsilon"] == "inf":
            assert shown.startswith("∞")
        else:
            assert float(shown.split()[0]) == pytest.approx(privacy["epsilon"], rel=1e-2)
            assert "δ=1e-05" in shown
        assert (row[header.index("σ")] != "—") == (privacy["epsilon"] != "inf")
    # the GAN's sample grid and every run's ε-per-epoch / curves figures are inlined
    assert html.count('alt="last sample grid') == 1
    assert html.count('alt="epsilon spent vs epoch"') == 3


def test_non_poisson_run_is_warned_about(report):
    out, printed = report
    invalid = [w for w in printed["warnings"] if w["kind"] == "epsilon-invalid"]
    assert [w["run"] for w in invalid] == ["clf-nopoisson"], printed["warnings"]
    assert "NOT a DP guarantee" in out.read_text()
    assert len(printed["warnings"]) == 1


def _copy_run(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.pt"))
    return dest


def _write_attack(run: Path, members: np.ndarray, nonmembers: np.ndarray) -> Path:
    """An attack directory as dpkit.attacks.runs writes it (result.json without a recorded
    violation: the report must find it from the scores)."""
    attack = run / "attacks" / "membership-loss-20260101-000000"
    attack.mkdir(parents=True)
    (attack / "config.json").write_text(json.dumps(
        {"command": "attack membership", "format_version": 1, "method": "loss",
         "target": str(run)}))
    (attack / "result.json").write_text(json.dumps(
        {"method": "loss", "auc": 1.0, "tpr_at_fpr_0.001": 1.0, "tpr_at_fpr_0.01": 1.0,
         "num_members": members.size, "num_nonmembers": nonmembers.size,
         "out_dir": str(attack), "variants": []}))
    (attack / "scores.json").write_text(json.dumps(
        {"loss": {"members": members.tolist(), "nonmembers": nonmembers.tolist()}}))
    return attack


def test_attack_beating_the_dp_bound_points_to_a_bug(runs, tmp_path):
    gan = _copy_run(runs / "gan", tmp_path / "gan")  # ε ≈ 3.3
    rng = np.random.default_rng(0)
    _write_attack(gan, 10 + rng.random(2000), rng.random(2000))  # perfectly separated
    code, output = _report([gan], tmp_path / "r.html", "--json")
    assert code == 0, output
    warnings = json.loads(output)["warnings"]
    assert [w["kind"] for w in warnings] == ["attack-beats-dp-bound"], warnings
    assert "points to a bug" in warnings[0]["message"]
    html = (tmp_path / "r.html").read_text()
    assert "ROC (log-log) with the DP bound" in html and "points to a bug" in html


def test_attack_within_the_bound_is_not_flagged(runs, tmp_path):
    clf = _copy_run(runs / "clf-eps8", tmp_path / "clf")
    rng = np.random.default_rng(1)
    _write_attack(clf, rng.normal(0.2, 1, 300), rng.normal(0, 1, 300))
    code, output = _report([clf], tmp_path / "r.html", "--json")
    assert code == 0 and json.loads(output)["warnings"] == [], output


def test_roc_bound_check_is_statistical_not_raw():
    """A raw ROC point at FPR 0 with TPR 1/M > δ is above e^ε·FPR + δ for every ε; only an
    excess beyond sampling error counts. A perfect attack on many examples refutes small ε."""
    rng = np.random.default_rng(0)
    weak_m, weak_n = rng.normal(0.1, 1, 500), rng.normal(0, 1, 500)
    assert weak_m.max() > weak_n.max()  # the raw ROC has TPR > 0 at FPR 0 ...
    assert roc_bound_excess(weak_m, weak_n, epsilon=1.0, delta=1e-5) is None  # ... not a bug
    perfect_m, perfect_n = 10 + rng.random(2000), rng.random(2000)
    eps_lb, fpr, tpr = roc_bound_excess(perfect_m, perfect_n, epsilon=1.0, delta=1e-5)
    assert eps_lb > 1.0 and fpr == 0.0 and tpr == 1.0
    assert roc_bound_excess(perfect_m, perfect_n, epsilon=50.0, delta=1e-5) is None
    assert roc_bound_excess(perfect_m, perfect_n, epsilon=float("inf"), delta=1e-5) is None


def test_audit_directory_is_one_run_and_its_violation_is_warned(runs, tmp_path):
    audit = tmp_path / "audit"
    _copy_run(runs / "clf-eps8", audit / "train")
    claimed = json.loads((audit / "train" / "privacy.json").read_text())["epsilon"]
    (audit / "config.json").write_text(json.dumps(
        {"command": "audit-train-classifier", "format_version": 1,
         "training": json.loads((audit / "train" / "config.json").read_text()),
         "canaries": {"canaries": 100, "canary_type": "gradient"}}))
    (audit / "audit.json").write_text(json.dumps(
        {"claimed_epsilon": claimed, "delta": 1e-5, "canaries": 100, "canary_type": "gradient",
         "epsilon_lower_bound": {"steinke": claimed + 1, "fdp": claimed + 2},
         "verdict": "violation", "confidence": 0.95}))
    code, output = _report([tmp_path], tmp_path / "r.html", "--json")
    assert code == 0, output
    printed = json.loads(output)
    assert printed["runs"] == 1  # train/ belongs to the audit
    assert [w["kind"] for w in printed["warnings"]] == ["audit-violation"]
    page = _parse(tmp_path / "r.html")
    header, row = page.rows
    assert row[header.index("audit")] == "violation"
    assert row[header.index("kind")] == "audit-train-classifier"


def test_bad_inputs_are_one_line_exit_2_nothing_written(runs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text('{"not": "dpkit"}')
    corrupt = _copy_run(runs / "clf-nodp", tmp_path / "corrupt")
    (corrupt / "config.json").write_text("{not json")
    out = tmp_path / "r.html"
    for paths, needle in (([tmp_path / "missing"], "does not exist"),
                          ([empty], "holds no dpkit run"),
                          ([corrupt], "is corrupt")):
        code, output = _report(paths, out)
        assert code == 2 and output.startswith("Error:") and needle in output, output
        assert len(output.strip().splitlines()) == 1 and not out.exists()
    code, output = _report([runs / "clf-nodp"], out)
    assert code == 0 and out.is_file(), output
    before = out.read_text()
    code, output = _report([runs / "clf-eps8"], out)
    assert code == 2 and "already exists" in output and len(output.strip().splitlines()) == 1
    assert out.read_text() == before
    code, output = _report([runs / "clf-eps8"], out, "--force")
    assert code == 0 and out.read_text() != before


def test_report_in_a_real_browser(report, tmp_path):
    """Headless Chromium renders the page (not blank), its DOM holds the sections, and with
    every host name unresolvable it still renders the same: no network request is needed."""
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium not installed (CI must run the browser test)")
        pytest.skip("chromium not installed: apt-get install chromium")
    out, _ = report
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,2000"]
    shot = tmp_path / "page.png"
    subprocess.run([*flags, f"--screenshot={shot}", out.resolve().as_uri()], check=True,
                   capture_output=True, timeout=120)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1280) and pixels.std() > 10, pixels.std()
    dom = subprocess.run([*flags, "--dump-dom", out.resolve().as_uri()], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    for section in SECTION_IDS:
        assert f'id="{section}"' in dom, section
    assert dom.count("<img") == out.read_text().count("<img")
