"""The baseline regression file: the headline numbers of the baseline experiment at a small fixed seed.

``tests/baseline.json`` holds the calibrated baseline's named-threshold probabilities, attack quantiles and
posterior means, computed the way the ``escalation`` command computes them (built-in record, packaged
scenario, calibration draws 4,000 with seed 0, ensemble seed 20231027) at 2,000 replications. The test
compares them exactly: a refactor that changes a number fails here, and a commit that changes results on
purpose regenerates the file in the same commit and says why::

    python tests/test_baseline_regression.py --update
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BASELINE = Path(__file__).with_name("baseline.json")
REPLICATIONS = 2_000
SEED = 20231027


def headline_numbers() -> dict:
    """The numbers the regression file holds, computed from the library as the command computes them."""
    from escalation.calibration import calibrate
    from escalation.events import load_builtin_events
    from escalation.experiment import Arm, ExperimentSpec, run_experiment
    from escalation.report.summary import RunSummary
    from escalation.specs import EnsembleSpec, default_scenario

    scenario = default_scenario()
    events = load_builtin_events(actors=scenario.actor_names)
    calibration = calibrate(events, scenario, draws=4000, seed=0)
    spec = ExperimentSpec(
        name="baseline",
        question="baseline",
        arms=(Arm("baseline", "baseline", scenario),),
        reference="baseline",
        scenario=scenario,
    )
    result = run_experiment(spec, EnsembleSpec(replications=REPLICATIONS, seed=SEED), events, calibration)
    summary = RunSummary.from_result(result).to_dict()
    arm = summary["arms"]["baseline"]
    return {
        "replications": REPLICATIONS,
        "seed": SEED,
        "thresholds": {
            name: {day: value["probability"] for day, value in entry["by_day"].items()}
            for name, entry in arm["thresholds"].items()
        },
        "attacks_by_horizon": arm["attacks_by_horizon"],
        "posterior_means": {path: round(entry["mean"], 9) for path, entry in calibration.summaries.items()},
    }


def test_baseline_headline_numbers_are_unchanged():
    expected = json.loads(BASELINE.read_text(encoding="utf-8"))
    assert headline_numbers() == expected, (
        "the baseline's numbers changed; if on purpose, run `python tests/test_baseline_regression.py "
        "--update` and say why in the commit"
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_baseline_regression.py --update")
    BASELINE.write_text(json.dumps(headline_numbers(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {BASELINE}")
