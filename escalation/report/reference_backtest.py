"""``escalation-reference-backtest``: run the reference backtests and write their tables.

Writes, in the output folder: ``scores.parquet`` (one row per target and forecaster), ``summary.parquet`` and
``table.md`` (per record and horizon, and pooled: the table in docs/backtesting.md), and ``run.json`` (the
settings, the package version, and per origin the records its pooled priors came from). With ``--compare``
every variant of the model is scored, and ``comparison.md``, ``comparison.parquet`` and
``comparison_scores.parquet`` hold them side by side (the tables above are the chosen variant's). Every file
is written whole or not at all; ``run.json`` last, so a folder without it is incomplete.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from escalation.files import atomic_file

USAGE_ERROR = 2
MAX_REPLICATIONS = 200_000
MAX_DRAWS = 100_000


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``escalation-reference-backtest``."""
    parser = argparse.ArgumentParser(
        prog="escalation-reference-backtest",
        description=(
            "Backtest the model on the reference-class episodes: rolling origins, one- and three-month "
            "horizons, each episode left out of the pooled priors that forecast it (docs/backtesting.md)."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default results/reference_backtest, or results/reference_backtest_hand with "
        "--priors hand, so that the two runs do not overwrite each other)",
    )
    parser.add_argument("--replications", type=int, default=1000, help="replications per origin (1000)")
    parser.add_argument("--draws", type=int, default=1000, help="calibration draws per origin (1000)")
    parser.add_argument("--seed", type=int, default=1, help="ensemble seed (1)")
    parser.add_argument(
        "--records", default=None, help="comma-separated record files (default: every backtested record)"
    )
    parser.add_argument(
        "--variant",
        default=None,
        help="the model's variant (today, truces, pauses, overdispersion, truces_frailty, restraint, full; "
        "default: the best by score)",
    )
    parser.add_argument(
        "--priors",
        default="reference_class",
        help="the calibration's priors: reference_class (pooled, each record left out of its own; default) "
        "or hand (every scenario's own priors)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="score every variant and write comparison.md and comparison.parquet beside the default's tables",
    )

    def refuse(message: str) -> None:
        print(f"escalation-reference-backtest: error: {message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)

    parser.error = refuse  # type: ignore[method-assign]  # one line, not argparse's usage and error lines
    args = parser.parse_args(argv)
    if not 1 <= args.replications <= MAX_REPLICATIONS:
        refuse(f"--replications: must be an integer in 1..{MAX_REPLICATIONS:,}, got {args.replications}")
    if not 2 <= args.draws <= MAX_DRAWS:
        refuse(f"--draws: must be an integer in 2..{MAX_DRAWS:,}, got {args.draws}")
    if args.seed < 0:
        refuse(f"--seed: must be an integer >= 0, got {args.seed}")
    if args.out is None:
        suffix = "" if args.priors == "reference_class" else f"_{args.priors}"
        args.out = Path(f"results/reference_backtest{suffix}")
    if args.out.exists() and not args.out.is_dir():
        refuse(f"--out: {args.out} exists and is not a folder")

    from tqdm.auto import tqdm

    from escalation import __version__
    from escalation.pooling import PRIOR_SOURCES
    from escalation.reference_backtest import (
        DEFAULT_VARIANT,
        VARIANTS,
        comparison_markdown,
        comparison_table,
        markdown,
        run_reference_backtests,
        summary_table,
    )
    from escalation.specs import EnsembleSpec

    if args.priors not in PRIOR_SOURCES:
        refuse(f"--priors: unknown {args.priors!r}; allowed: {', '.join(PRIOR_SOURCES)}")
    variant = args.variant or DEFAULT_VARIANT
    if variant not in VARIANTS:
        refuse(f"--variant: unknown {variant!r}; allowed: {', '.join(VARIANTS)}")
    records = [r.strip() for r in args.records.split(",") if r.strip()] if args.records else None
    # The default variant last, so that its run is the one whose tables the folder keeps.
    variants = [v for v in VARIANTS if v != variant] + [variant] if args.compare else [variant]
    tables, all_scores = {}, []
    for name in variants:
        bars = []

        def progress(done: int, total: int, bars=bars, name=name) -> None:
            if not bars:
                bars.append(
                    tqdm(
                        total=total,
                        desc=f"reference backtest ({name})",
                        unit="origin",
                        file=sys.stderr,
                        leave=False,
                    )
                )
            bars[0].update(done - bars[0].n)

        try:
            backtest = run_reference_backtests(
                EnsembleSpec(replications=args.replications, seed=args.seed, workers=1),
                records=records,
                calibration_draws=args.draws,
                variant=name,
                priors=args.priors,
                progress=progress,
            )
        except ValueError as err:
            refuse(str(err))
        finally:
            for bar in bars:
                bar.close()
        tables[name] = summary_table(backtest.scores)
        all_scores.append(backtest.scores.assign(variant=name))
    scores, results = backtest.scores, backtest.origins
    table = tables[variant]
    text = markdown(table)
    run = {
        "escalation_version": __version__,
        "variant": variant,
        "variant_means": VARIANTS[variant],
        "priors": args.priors,
        "compared": variants if args.compare else [],
        "replications": args.replications,
        "calibration_draws": args.draws,
        "seed": args.seed,
        "records": sorted({r.record for r in results}),
        "origins": [
            {"record": r.record, "origin": r.origin.isoformat(), "pooled_priors_from": list(r.pooled_records)}
            for r in results
        ],
        "targets_left_out": list(backtest.left_out),
    }
    frames = [("scores.parquet", scores), ("summary.parquet", table)]
    texts = [("table.md", text)]
    if args.compare:
        import pandas as pd

        comparison = comparison_table({name: tables[name] for name in VARIANTS if name in tables})
        frames += [("comparison.parquet", comparison), ("comparison_scores.parquet", pd.concat(all_scores))]
        texts.append(("comparison.md", comparison_markdown(comparison)))
    for name, frame in frames:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        with atomic_file(args.out / name) as stream:
            stream.write(buffer.getvalue())
    for name, content in texts:
        with atomic_file(args.out / name) as stream:
            stream.write(content.encode("utf-8"))
    with atomic_file(args.out / "run.json") as stream:
        stream.write((json.dumps(run, indent=1) + "\n").encode("utf-8"))
    if args.compare:
        print(texts[-1][1], end="")
        print(f"default variant: {variant} ({VARIANTS[variant]})")
    else:
        print(text, end="")
    written = [name for name, _ in frames] + [name for name, _ in texts] + ["run.json"]
    print(f"written: {args.out}/ ({', '.join(written)})")
