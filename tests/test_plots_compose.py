"""Figures composed into the caller's axes (``ax=``), and the unchanged figures made without them."""

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from escalation import plots
from escalation.report import sensitivity_plots
from tests.test_plots import (
    CAPTION,
    arms_tables,
    cumulative_table,
    curves_table,
    observed_table,
    threshold_table,
)
from tests.test_plots_sweep import difference_table, sweep_table


def robustness_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "retaliation": [0.1, 0.5, 0.9],
            "share_lower": [0.0, 0.4, 0.7],
            "regret_mean": [0.05, 0.02, 0.01],
            "regret_p90": [0.09, 0.05, 0.03],
        }
    )


def indices_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "factor": ["attacks.a->b.base_rate", "policy.b.retaliation_probability", "attacks.a->b.decay"],
            "S1": [0.5, 0.2, 0.01],
            "S1_conf": [0.05, 0.04, 0.02],
            "ST": [0.6, 0.3, 0.02],
            "ST_conf": [0.05, 0.05, 0.02],
            "mu_star": [0.4, 0.2, 0.01],
            "mu_star_conf": [0.05, 0.03, 0.01],
            "sigma": [0.2, 0.1, 0.01],
        }
    )


def prim_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    trajectory = pd.DataFrame(
        {
            "coverage": [1.0, 0.9, 0.7],
            "density": [0.2, 0.35, 0.6],
            "restricted_dimensions": [0, 1, 2],
            "selected": [False, False, True],
        }
    )
    limits = pd.DataFrame(
        {
            "parameter": ["attacks.a->b.base_rate", "policy.b.retaliation_probability"],
            "low": [0.5, 0.2],
            "high": [2.0, 0.6],
            "range_low": [0.0, 0.0],
            "range_high": [3.0, 1.0],
        }
    )
    return trajectory, limits


def _with_spread(curves: pd.DataFrame) -> pd.DataFrame:
    return curves.assign(
        parameter_lower=(curves["probability"] - 0.1).clip(0, 1),
        parameter_upper=(curves["probability"] + 0.1).clip(0, 1),
    )


# name: (draw(ax=..., title=...), number of axes it draws into, axes of the figure it makes on its own)
FIGURES: dict[str, tuple[Callable[..., Figure], int, int]] = {
    "fan": (lambda **kw: plots.fan_chart(cumulative_table(), observed=observed_table(), counting="Counts "
            "the attacks by the militias", markers=[("2023-10-30", "driver")], **kw), 1, 1),
    "ladder": (lambda **kw: plots.ladder_chart(curves_table(), **kw), 1, 1),
    "ladder_with_side_panel": (lambda **kw: plots.ladder_chart(_with_spread(curves_table()), **kw), 2, 2),
    "threshold": (lambda **kw: plots.threshold_chart(threshold_table(), **kw), 1, 1),
    "arms": (lambda **kw: plots.arms_chart(*arms_tables(), reference="low", **kw), 2, 2),
    "sweep": (lambda **kw: plots.sweep_chart(sweep_table(), lever="retaliation", lever_label="Retaliation",
              series="proportionality", **kw), 1, 1),
    "heatmap": (lambda **kw: plots.heatmap_chart(sweep_table(), x="retaliation", y="proportionality",
                x_label="Retaliation", y_label="Proportionality", **kw), 1, 2),  # and its colour bar
    "difference": (lambda **kw: plots.difference_chart(difference_table(), lever="retaliation",
                   lever_label="Retaliation", reference_label="retaliation 0.1", series="proportionality",
                   **kw), 1, 1),
    "robustness": (lambda **kw: plots.robustness_chart(robustness_table(), lever="retaliation",
                   lever_label="Retaliation", **kw), 2, 2),
    "pit": (lambda **kw: plots.pit_histogram(np.linspace(0.01, 0.99, 40), **kw), 1, 1),
    "reliability": (lambda **kw: plots.reliability_diagram(pd.DataFrame({"mean_forecast": [0.1, 0.5],
                    "observed_frequency": [0.2, 0.4], "forecasts": [5, 3]}), **kw), 1, 1),
    "qq": (lambda **kw: plots.qq_uniform(np.linspace(0.02, 0.98, 30), **kw), 1, 1),
    "tornado": (lambda **kw: sensitivity_plots.tornado_chart(indices_table(), **kw), 1, 1),
    "index": (lambda **kw: sensitivity_plots.index_chart(indices_table(), **kw), 1, 1),
    "morris": (lambda **kw: sensitivity_plots.morris_chart(indices_table(), **kw), 1, 1),
    "prim": (lambda **kw: sensitivity_plots.prim_chart(*prim_tables(), **kw), 2, 3),  # and its colour bar
}  # fmt: skip


def drawn(ax: Axes) -> int:
    """How many data artists an axes holds (lines, patches, collections, images)."""
    return len(ax.lines) + len(ax.patches) + len(ax.collections) + len(ax.images)


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    plt.close("all")


def test_three_different_figures_compose_into_one_row_of_panels():
    fig, axes = plt.subplots(1, 3, figsize=(18, 5), layout="constrained")
    got = [
        plots.fan_chart(cumulative_table(), title="How many attacks?", caption=CAPTION, ax=axes[0]),
        plots.threshold_chart(threshold_table(), title="How likely?", caption=CAPTION, ax=axes[1]),
        plots.ladder_chart(curves_table(), title="How far up?", caption=CAPTION, ax=axes[2]),
    ]
    assert all(g is fig for g in got)  # each returns the caller's figure
    assert plt.get_fignums() == [fig.number]  # and made none of its own
    assert list(fig.axes) == list(axes)  # no panel added
    for ax, title in zip(axes, ["How many attacks?", "How likely?", "How far up?"], strict=True):
        assert drawn(ax) > 0
        assert ax.get_title(loc="left") == title  # the title is on the axes
    # Nothing figure-level that would clash with the other panels: no suptitle, no caption line, no legend.
    assert fig.get_suptitle() == "" and not fig.texts and not fig.legends
    fig.draw_without_rendering()  # lays out and draws without error


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_draws_into_the_callers_axes_and_returns_their_figure(name):
    draw, panels, _ = FIGURES[name]
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 5), layout="constrained", squeeze=False)
    target = axes[0, 0] if panels == 1 else list(axes[0])
    got = draw(title="A question?", caption=CAPTION, ax=target)
    assert got is fig
    assert plt.get_fignums() == [fig.number]
    assert all(drawn(ax) > 0 for ax in axes[0])
    assert axes[0, 0].get_title(loc="left") == "A question?"
    assert fig.get_suptitle() == "" and not fig.texts
    fig.draw_without_rendering()


@pytest.mark.parametrize("name", list(FIGURES))
def test_without_ax_each_figure_is_its_own_slide_as_before(name):
    draw, _, own_axes = FIGURES[name]
    fig = draw(title="A question?", caption=CAPTION)
    assert plt.get_fignums() == []  # a plain figure, not registered with pyplot
    assert len(fig.axes) == own_axes
    assert fig.get_suptitle() == "A question?"
    assert fig.texts[-1].get_text() == CAPTION.text()  # the caption line at the bottom
    assert fig.get_figwidth() >= plots.FIGSIZE[0]


def test_a_composed_threshold_chart_moves_labels_like_the_slide_does():
    # Near 100% the value label would stick out of the axes: it goes left of the dot in both cases.
    table = threshold_table()
    table.loc[table["threshold"] == "first_fatality", ["probability", "lower", "upper"]] = [0.99, 0.97, 1.0]
    fig, ax = plt.subplots(layout="constrained")
    plots.threshold_chart(table, title="t", caption=CAPTION, ax=ax)
    fig.draw_without_rendering()
    frame = ax.get_window_extent()
    for text in ax.texts:
        box = text.get_window_extent()
        assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1, text.get_text()


@pytest.mark.parametrize(
    ("name", "wrong"),
    [("fan", "not axes"), ("arms", "one axes"), ("ladder", "three axes"), ("prim", "one axes")],
)
def test_wrong_ax_is_a_one_line_error_naming_the_argument(name, wrong):
    draw = FIGURES[name][0]
    _, axes = plt.subplots(1, 3)
    ax = {"not axes": "left", "one axes": axes[0], "three axes": list(axes)}[wrong]
    with pytest.raises(ValueError, match=r"^ax: expected .*Axes"):
        draw(title="t", caption=CAPTION, ax=ax)


def test_composed_arms_panels_show_the_event_names_once():
    fig, (left, right) = plt.subplots(1, 2, layout="constrained")
    plots.arms_chart(*arms_tables(), title="t", caption=CAPTION, reference="low", ax=(left, right))
    fig.draw_without_rendering()
    assert [t.get_text() for t in left.get_yticklabels()] == ["First fatality", "Regional war"]
    assert not any(t.get_visible() and t.get_text() for t in right.get_yticklabels())
