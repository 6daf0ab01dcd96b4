"""``dpkit study``: a declared grid of runs, trained, evaluated, attacked and reported."""

from __future__ import annotations

from typing import Any

import click

from dpkit.commands.options import device_option, json_option, quiet_option
from dpkit.names import DATASETS

__all__ = ["study_command"]

# the options that declare the study (the TOML file's top-level keys); --spec replaces them all
SPEC_OPTIONS = ("dataset", "epsilons", "noise_multipliers", "models", "metrics", "attacks", "seeds", "grid", "sets",
                "eval_sets", "attack_sets")


@click.command("study")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False), default=None,
              help="The study as a TOML file (dataset, epsilons, models, metrics, attacks, "
                   "seeds, [classifier], [gan], [grid], [evaluate], [attack]) instead of the "
                   "options below.")
@click.option("--dataset", default=None, help=f"Dataset of every run ({', '.join(DATASETS)}).")
@click.option("--epsilons", default=None, help="Target epsilons, e.g. 1,3,8,inf (inf = no DP); "
                                                "a model kind's own with --set gan.epsilons=10,inf.")
@click.option("--noise-multipliers", default=None,
              help="Fixed noise multipliers, e.g. 0.5,1,2: runs whose epsilon is whatever the "
                   "accountant reports (with or instead of --epsilons).")
@click.option("--models", default=None, help="classifier, gan or classifier,gan.")
@click.option("--metrics", default="", help="'dpkit evaluate' metrics, e.g. accuracy,fid "
                                            "(each on the model kind it belongs to).")
@click.option("--attacks", default="", help="'dpkit attack membership' methods, e.g. "
                                            "loss,gan-leaks.")
@click.option("--seeds", default="0", show_default=True, help="One run per seed, e.g. 0,1,2.")
@click.option("--grid", "grid", multiple=True, metavar="OPTION=V1,V2",
              help="A training option's values (repeatable: the runs are every combination); "
                   "applies to the model kinds that have the option. Options varied together: "
                   "optimizer+lr=sgd:0.5,adam:0.002.")
@click.option("--set", "sets", multiple=True, metavar="[MODEL.]OPTION=VALUE",
              help="A training option for every run (of the kinds that have it, or of "
                   "classifier./gan. only), e.g. epochs=5 or gan.latent-dim=64.")
@click.option("--eval-set", "eval_sets", multiple=True, metavar="OPTION=VALUE",
              help="A 'dpkit evaluate' option, e.g. features=random-cnn or num-samples=2000.")
@click.option("--attack-set", "attack_sets", multiple=True, metavar="OPTION=VALUE",
              help="A 'dpkit attack membership' option, e.g. max-examples=500.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="The study directory (re-run the same study on it to resume).")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Runs trained at once, each in its own process with one torch thread.")
@device_option
@quiet_option
@json_option
def study_command(**kw: Any) -> int:
    """A grid of runs (dataset x epsilons x models x grid x seeds), each trained, evaluated and
    attacked in its own run directory under OUT/runs/, with OUT/study.json (the spec and each
    run's status), OUT/results.csv (one row per run and metric) and OUT/report.html.

    Running the same command again skips what is finished and resumes what was interrupted.

    \b
    dpkit study --dataset digits --epsilons 1,8,inf --models classifier,gan \\
        --metrics accuracy,fid --attacks loss,gan-leaks --grid max-grad-norm=0.1,1 \\
        --set epochs=5 --out studies/digits
    dpkit study --dataset fashion-mnist --models classifier --noise-multipliers 0.5,1,2 \\
        --grid optimizer+lr=sgd:0.5,adam:0.002,adagrad:0.05 --grid max-grad-norm=0.1,1,10 \\
        --metrics accuracy --out studies/dpsgd
    dpkit study --spec study.toml --out studies/digits --jobs 4
    """
    if kw["spec_file"] is not None:
        ctx = click.get_current_context()
        given = [max(p.opts, key=len) for p in ctx.command.params if p.name in SPEC_OPTIONS
                 and ctx.get_parameter_source(p.name) != click.core.ParameterSource.DEFAULT]
        if given:
            raise click.UsageError(f"--spec declares the whole study; drop {', '.join(given)} "
                                   f"(or put them in the TOML file)")
    elif kw["dataset"] is None or kw["models"] is None or (
            kw["epsilons"] is None and kw["noise_multipliers"] is None
            and not any(s.split("=")[0].split(".")[-1] in ("epsilons", "noise-multipliers")
                        for s in kw["sets"])):
        raise click.UsageError("give --dataset, --epsilons (or --noise-multipliers) and --models "
                               "(or --spec FILE)")
    if kw["jobs"] < 1:
        raise click.BadParameter(f"{kw['jobs']} must be >= 1", param_hint="--jobs")
    # The library (torch) is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import study as runner

    return runner.run(kw)
