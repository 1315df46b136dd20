"""The what-if page: a local Streamlit app over :mod:`escalation.whatif` (the ``escalation-whatif`` command).

``escalation-whatif`` checks its options, then runs this file with Streamlit's server; Streamlit re-runs the
file on every move of a control. The calibration and the baseline are computed once per server (cached
by replications, seed and days) and every what-if is cached by its levers, so going back to a setting
is instant. All numbers come from :func:`escalation.whatif.evaluate`; this module only lays them out.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from escalation.specs import EnsembleSpec, SpecError

PROG = "escalation-whatif"
DEFAULT_REPLICATIONS = 2_000
DEFAULT_SEED = EnsembleSpec().seed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the what-if page locally: move the levers, see the risks against the baseline.",
    )
    parser.add_argument("--replications", type=int, default=DEFAULT_REPLICATIONS, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="root seed (default: %(default)s)")
    parser.add_argument("--days", type=int, default=None, help="simulated days (default: the scenario's)")
    parser.add_argument("--port", type=int, default=8501, help="default: %(default)s")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    return parser


def page_settings(argv: Sequence[str]) -> tuple[EnsembleSpec, int | None]:
    """The page's ensemble and days from its options, checked (a bad value raises a one-line SpecError)."""
    args, _ = _parser().parse_known_args(list(argv))
    if args.days is not None and args.days < 1:
        raise SpecError(f"--days: must be a whole number >= 1, got {args.days}")
    ensemble = EnsembleSpec(replications=args.replications, seed=args.seed, workers=1)
    return ensemble, args.days


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``escalation-whatif``: check the options, then serve the page with Streamlit.

    Raises:
        SystemExit: with code 2 after one ``escalation-whatif: error: ...`` line for a bad option.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if not 0 < args.port < 65536:
        _fail(f"--port: must be in [1, 65535], got {args.port}")
    try:
        page_settings(argv)
    except SpecError as err:
        _fail(str(err).replace("ensemble.", "--", 1))
    from streamlit.web import cli as streamlit_cli

    sys.argv = [
        "streamlit",
        "run",
        str(Path(__file__).resolve()),
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--",
        *argv,
    ]
    sys.exit(streamlit_cli.main())


def _fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(2)


def _percent(p: float) -> str:
    return f"{p:.1%}"


def _interval(low: float, high: float) -> str:
    return f"{low:.1%} to {high:.1%}"


def _signed(d: float) -> str:
    return f"{d * 100:+.1f} pp"


def page(ensemble: EnsembleSpec, days: int | None) -> None:
    """Lay out the page for one run of the script (Streamlit calls the file again on every change)."""
    import streamlit as st

    from escalation import whatif

    st.set_page_config(page_title="escalation: what if", layout="wide")

    @st.cache_resource(show_spinner="Calibrating and running the baseline (once)...")
    def baseline_for(replications: int, seed: int, days: int | None) -> whatif.Baseline:
        from escalation.events import load_builtin_events
        from escalation.specs import default_scenario

        return whatif.prepare_baseline(default_scenario(), load_builtin_events(), ensemble, days=days)

    @st.cache_resource(max_entries=64, show_spinner="Running the what-if...")
    def what_if(_baseline: whatif.Baseline, key: tuple, levers: whatif.Levers) -> whatif.WhatIfResult:
        return whatif.evaluate(_baseline, levers)

    baseline = baseline_for(ensemble.replications, ensemble.seed, days)
    levers = _controls(st, baseline)
    st.title("What if...")
    st.caption(
        f"{baseline.scenario.description or baseline.scenario.name}: {baseline.scenario.horizon_days} days "
        f"from {baseline.scenario.start:%d %B %Y}, {ensemble.replications:,} replications, seed "
        f"{ensemble.seed}; every what-if reuses the baseline's seed (common random numbers), so the paired "
        "difference is the levers' effect with little noise."
    )
    try:
        result = what_if(baseline, (ensemble.replications, ensemble.seed, days), levers)
    except SpecError as err:
        st.error(str(err))
        return
    _headline(st, result, baseline)
    _threshold_table(st, result)
    left, right = st.columns(2)
    left.subheader("Escalation ladder: P(highest rung reached by day)")
    left.altair_chart(_ladder_chart(result), use_container_width=True)
    right.subheader(f"Cumulative attacks on {whatif.FAN_TARGET.upper()} forces")
    right.altair_chart(_fan_chart(result), use_container_width=True)
    moved = ", ".join(f"{k}={v:g}" for k, v in levers.set_levers().items()) or "none (the baseline)"
    st.caption(f"Levers set: {moved}. Update computed in {result.seconds:.2f} s.")


def _controls(st, baseline):
    """The sidebar's controls; returns the :class:`~escalation.whatif.Levers` they describe."""
    from escalation import whatif

    sidebar = st.sidebar
    sidebar.header("Levers")
    sidebar.caption("A lever left off stays as calibrated; a lever on fixes that parameter in every run.")
    values = {}
    for info in whatif.LEVERS:
        if info.name.startswith("truce_"):
            continue
        configured = whatif.configured_value(baseline.scenario, info.name)
        uncertain = not isinstance(configured, int | float)
        enabled = True
        if uncertain:
            enabled = sidebar.toggle(f"Set {_lowered(info.label)}", key=f"set_{info.name}", help=info.help)
        value = _slider(sidebar, info, whatif.lever_default(baseline, info.name), baseline, not enabled)
        if enabled and (uncertain or value != whatif.lever_default(baseline, info.name)):
            values[info.name] = value
    sidebar.subheader("Truce")
    truce = sidebar.toggle("A truce pauses the proxies' campaigns", key="set_truce")
    for name in ("truce_day", "truce_hold_probability"):
        info = whatif.LEVER_INFO[name]
        default = 30.0 if name == "truce_day" else whatif.lever_default(baseline, name)
        value = _slider(sidebar, info, default, baseline, not truce)
        if truce:
            values[name] = value
    return whatif.Levers(**values)


def _lowered(label: str) -> str:
    """The label mid-sentence: its first letter in lower case unless it starts an acronym (US)."""
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]


def _slider(container, info, default, baseline, disabled):
    is_day = info.name.endswith("_day")
    high = baseline.scenario.horizon_days - 1 if is_day else info.high
    kind = int if is_day else float
    return container.slider(
        info.label,
        min_value=kind(info.low),
        max_value=kind(high),
        value=kind(min(max(default, info.low), high)),
        step=kind(info.step),
        key=info.name,
        help=info.help,
        disabled=disabled,
    )


def _headline(st, result, baseline):
    """One metric per named threshold at the run's end, with the paired difference as its delta."""
    horizon = baseline.horizons[-1]
    rows = result.thresholds[result.thresholds["horizon_days"] == horizon]
    for column, (_, row) in zip(st.columns(len(rows)), rows.iterrows(), strict=True):
        column.metric(
            f"{row['label']} by day {horizon}",
            _percent(row["probability"]),
            delta=f"{_signed(row['difference'])} vs baseline",
            delta_color="inverse",
            help=f"Simulation noise {_interval(row['lower'], row['upper'])}; parameter range "
            f"{_interval(row['parameter_lower'], row['parameter_upper'])}; baseline "
            f"{_percent(row['baseline_probability'])}.",
        )


def _threshold_table(st, result):
    import pandas as pd

    t = result.thresholds
    table = pd.DataFrame(
        {
            "threshold": t["label"],
            "by day": t["horizon_days"],
            "what-if": t["probability"].map(_percent),
            "simulation noise (90%)": [_interval(a, b) for a, b in zip(t["lower"], t["upper"], strict=True)],
            "parameter range (90%)": [
                _interval(a, b) for a, b in zip(t["parameter_lower"], t["parameter_upper"], strict=True)
            ],
            "baseline": t["baseline_probability"].map(_percent),
            "paired difference": t["difference"].map(_signed),
            "difference interval (90%)": [
                f"{_signed(a)} to {_signed(b)}"
                for a, b in zip(t["difference_lower"], t["difference_upper"], strict=True)
            ],
        }
    )
    st.table(table.set_index(["threshold", "by day"]))


def _ladder_chart(result):
    import altair as alt

    data = result.ladder[["rung", "rung_name", "day", "probability", "arm"]].copy()
    data["rung"] = data["rung"].astype(str) + " " + data["rung_name"]
    return (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X("day:Q", title="day of the run"),
            y=alt.Y("probability:Q", title="probability", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("rung:N", title="rung reached"),
            strokeDash=alt.StrokeDash("arm:N", title=None, sort=["what-if", "baseline"]),
        )
        .properties(height=320)
    )


def _fan_chart(result):
    import altair as alt

    fan = result.fan
    what_if = alt.Chart(fan[fan["arm"] == "what-if"])
    outer = what_if.mark_area(opacity=0.2).encode(
        x=alt.X("day:Q", title="day of the run"), y=alt.Y("q05:Q", title="attacks"), y2="q95:Q"
    )
    inner = what_if.mark_area(opacity=0.35).encode(x="day:Q", y="q25:Q", y2="q75:Q")
    medians = (
        alt.Chart(fan)
        .mark_line()
        .encode(x="day:Q", y="q50:Q", strokeDash=alt.StrokeDash("arm:N", title="median", sort=["what-if"]))
    )
    return (outer + inner + medians).properties(height=320)


if __name__ == "__main__":
    # Run by Streamlit (``escalation-whatif``): the options come after Streamlit's ``--``.
    page(*page_settings(sys.argv[1:]))
