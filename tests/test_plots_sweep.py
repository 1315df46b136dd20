import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure

from escalation.plots import Caption, difference_chart, heatmap_chart, sweep_chart

CAPTION = Caption(
    experiment="deterrence_sweep",
    replications=2_000,
    seed=20231027,
    run_date="2026-11-24",
    version="0.1.0",
    scenario="october_2023",
)

RETALIATION = [0.1, 0.5, 0.9]
PROPORTIONALITY = [0.02, 0.1]


# --------------------------------------------------------------------------------------------------------
# Small hand-made tables
# --------------------------------------------------------------------------------------------------------


def sweep_table(*, scale: float = 1.0) -> pd.DataFrame:
    """Two levers; probability rises with retaliation and falls with proportionality."""
    rows = []
    for x in RETALIATION:
        for y in PROPORTIONALITY:
            p = scale * (0.2 + 0.5 * x - 0.3 * y)
            rows.append({"retaliation": x, "proportionality": y, "probability": p})
    table = pd.DataFrame(rows)
    return table.assign(lower=table["probability"] - 0.01, upper=table["probability"] + 0.01)


def difference_table() -> pd.DataFrame:
    """Paired differences from retaliation 0.1 within each proportionality."""
    table = sweep_table()
    reference = table[table["retaliation"] == 0.1].set_index("proportionality")["probability"]
    difference = table["probability"] - table["proportionality"].map(reference)
    width = np.where(table["retaliation"] == 0.1, 0.0, 0.02)
    return table[["retaliation", "proportionality"]].assign(
        difference=difference, lower=difference - width, upper=difference + width
    )


def heatmap_grid(probabilities: list[list[float]]) -> pd.DataFrame:
    """Long table from rows of probabilities: rows follow ``y``, columns follow ``x``."""
    xs, ys = [0.1, 0.5, 0.9], [0.02, 0.05]
    return pd.DataFrame(
        [
            {"x": x, "y": y, "probability": probabilities[i][j]}
            for i, y in enumerate(ys)
            for j, x in enumerate(xs)
        ]
    )


def contours(ax) -> list[ContourSet]:
    return [artist for artist in ax.collections if isinstance(artist, ContourSet)]


def cell_texts(ax) -> dict[tuple[int, int], str]:
    """Texts written at cell centres (integer positions), keyed by (column, row)."""
    cells = {}
    for text in ax.texts:
        x, y = text.get_position()
        if float(x).is_integer() and float(y).is_integer():
            cells[(int(x), int(y))] = text.get_text()
    return cells


def all_figures() -> dict[str, tuple[Figure, str]]:
    grid = sweep_table()
    return {
        "sweep": (
            sweep_chart(
                sweep_table(), lever="retaliation", lever_label="Retaliation probability",
                title="Does retaliation raise the risk?", caption=CAPTION, series="proportionality",
                series_label="Proportionality", ylabel="Probability by day 90 (%)",
            ),
            "Does retaliation raise the risk?",
        ),
        "heatmap": (
            heatmap_chart(
                grid, x="retaliation", y="proportionality", x_label="Retaliation probability",
                y_label="Proportionality", title="Where is it more likely than not?", caption=CAPTION,
            ),
            "Where is it more likely than not?",
        ),
        "difference": (
            difference_chart(
                difference_table(), lever="retaliation", lever_label="Retaliation probability",
                title="How much does retaliation add?", caption=CAPTION, reference_label="retaliation 0.1",
                series="proportionality", series_label="Proportionality",
            ),
            "How much does retaliation add?",
        ),
    }  # fmt: skip


# --------------------------------------------------------------------------------------------------------
# Shared properties
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sweep", "heatmap", "difference"])
def test_every_sweep_chart_has_title_axis_labels_and_caption(name):
    fig, title = all_figures()[name]
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == title
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Retaliation probability"
    assert ax.get_ylabel().strip()
    assert CAPTION.text() in [text.get_text() for text in fig.texts]


@pytest.mark.parametrize("name", ["sweep", "heatmap", "difference"])
def test_sweep_chart_layout_keeps_caption_below_the_axes(name):
    fig, _ = all_figures()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "constrained_layout not applied"
        fig.draw_without_rendering()
    caption = next(t for t in fig.texts if t.get_text() == CAPTION.text())
    for ax in fig.axes:
        assert ax.get_tightbbox().y0 >= caption.get_window_extent().y1 - 1
    title = fig._suptitle.get_window_extent()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert not legend.get_window_extent().overlaps(title)


def test_sweep_figures_are_not_left_open_in_pyplot():
    before = plt.get_fignums()
    all_figures()
    assert plt.get_fignums() == before


# --------------------------------------------------------------------------------------------------------
# sweep_chart
# --------------------------------------------------------------------------------------------------------


def test_sweep_chart_draws_one_line_per_series_value_in_percent():
    table = sweep_table()
    fig = sweep_chart(
        table, lever="retaliation", lever_label="Retaliation", title="t", caption=CAPTION,
        series="proportionality", series_label="Proportionality", ylabel="Probability by day 90 (%)",
    )  # fmt: skip
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"0.02", "0.1"}
    for value, label in ((0.02, "0.02"), (0.1, "0.1")):
        rows = table[table["proportionality"] == value].sort_values("retaliation")
        np.testing.assert_allclose(lines[label].get_xdata(), rows["retaliation"])
        np.testing.assert_allclose(lines[label].get_ydata(), 100 * rows["probability"])
        assert lines[label].get_marker() not in ("None", None, "")
    assert len({line.get_color() for line in lines.values()}) == 2
    assert len(ax.collections) == 2  # one interval band per series
    assert ax.get_ylabel() == "Probability by day 90 (%)"
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "Proportionality"
    assert "simulation noise (90%)" in [t.get_text() for t in legend.get_texts()]
    np.testing.assert_allclose(ax.get_xticks(), RETALIATION)


def test_sweep_chart_without_series_draws_a_single_line_and_default_label():
    table = sweep_table()
    single = table[table["proportionality"] == 0.02]
    fig = sweep_chart(single, lever="retaliation", lever_label="Retaliation", title="t", caption=CAPTION)
    ax = fig.axes[0]
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), 100 * single["probability"])
    assert ax.get_ylabel() == "Probability (%)"
    assert ax.get_ylim() == (0, 101)


def test_sweep_chart_zooms_in_on_small_probabilities():
    table = sweep_table(scale=0.05)
    fig = sweep_chart(
        table, lever="retaliation", lever_label="Retaliation", title="t", caption=CAPTION,
        series="proportionality",
    )  # fmt: skip
    bottom, top = fig.axes[0].get_ylim()
    highest = 100 * table["upper"].max()  # 4.2%
    assert bottom == 0
    assert highest < top < 1.5 * highest


def test_sweep_chart_rejects_two_rows_for_one_sweep_point():
    table = sweep_table()
    with pytest.raises(ValueError, match="more than one row"):
        sweep_chart(table, lever="retaliation", lever_label="r", title="t", caption=CAPTION)
    with pytest.raises(ValueError, match="proportionality"):
        sweep_chart(
            table.drop(columns="proportionality"), lever="retaliation", lever_label="r", title="t",
            caption=CAPTION, series="proportionality",
        )  # fmt: skip


# --------------------------------------------------------------------------------------------------------
# heatmap_chart
# --------------------------------------------------------------------------------------------------------


def test_heatmap_cells_are_annotated_with_rounded_percentages():
    probabilities = [[0.214, 0.456, 0.731], [0.108, 0.349, 0.627]]
    fig = heatmap_chart(
        heatmap_grid(probabilities), x="x", y="y", x_label="X lever", y_label="Y lever", title="t",
        caption=CAPTION,
    )  # fmt: skip
    ax = fig.axes[0]
    expected = {
        (col, row): f"{round(100 * p)}%"
        for row, values in enumerate(probabilities)
        for col, p in enumerate(values)
    }
    assert cell_texts(ax) == expected
    assert ax.get_xlabel() == "X lever" and ax.get_ylabel() == "Y lever"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "0.5", "0.9"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.02", "0.05"]
    np.testing.assert_allclose(ax.get_xticks(), [0, 1, 2])
    # Cell text contrasts with its fill: the darkest and the lightest cell get different text colours.
    texts = {(int(t.get_position()[0]), int(t.get_position()[1])): t for t in ax.texts}
    assert texts[(0, 1)].get_color() != texts[(2, 0)].get_color()


def test_heatmap_draws_a_labelled_contour_where_the_grid_crosses_the_level():
    fig = heatmap_chart(
        heatmap_grid([[0.2, 0.45, 0.7], [0.1, 0.35, 0.6]]), x="x", y="y", x_label="x", y_label="y",
        title="t", caption=CAPTION, contour=0.5,
    )  # fmt: skip
    ax = fig.axes[0]
    (lines,) = contours(ax)
    np.testing.assert_allclose(lines.levels, [50.0])
    assert [t.get_text() for t in lines.labelTexts] == ["50%"]
    # The crossing lies between the 45% and 70% cells of the first row.
    vertices = np.concatenate([path.vertices for path in lines.get_paths() if len(path.vertices)])
    assert vertices[:, 0].min() > 1.0 and vertices[:, 0].max() < 2.0


@pytest.mark.parametrize("contour", [0.5, 0.9, None])
def test_heatmap_draws_no_contour_when_the_grid_does_not_cross_the_level(contour):
    fig = heatmap_chart(
        heatmap_grid([[0.2, 0.3, 0.4], [0.1, 0.15, 0.25]]), x="x", y="y", x_label="x", y_label="y",
        title="t", caption=CAPTION, contour=contour,
    )  # fmt: skip
    assert contours(fig.axes[0]) == []
    assert "50%" not in [t.get_text() for t in fig.axes[0].texts]


def test_heatmap_leaves_a_missing_sweep_point_blank():
    grid = heatmap_grid([[0.2, 0.45, 0.7], [0.1, 0.35, 0.6]]).drop(index=4)  # x=0.5, y=0.05
    fig = heatmap_chart(grid, x="x", y="y", x_label="x", y_label="y", title="t", caption=CAPTION)
    cells = cell_texts(fig.axes[0])
    assert (1, 1) not in cells
    assert len(cells) == 5


# --------------------------------------------------------------------------------------------------------
# difference_chart
# --------------------------------------------------------------------------------------------------------


def test_difference_chart_plots_percentage_points_with_a_zero_line():
    table = difference_table()
    fig = difference_chart(
        table, lever="retaliation", lever_label="Retaliation", title="t", caption=CAPTION,
        reference_label="retaliation 0.1", series="proportionality", series_label="Proportionality",
    )  # fmt: skip
    ax = fig.axes[0]
    series = {line.get_label(): line for line in ax.get_lines() if line.get_label() in ("0.02", "0.1")}
    assert set(series) == {"0.02", "0.1"}
    for value, label in ((0.02, "0.02"), (0.1, "0.1")):
        rows = table[table["proportionality"] == value].sort_values("retaliation")
        np.testing.assert_allclose(series[label].get_ydata(), 100 * rows["difference"])
    zero = [line for line in ax.get_lines() if list(line.get_ydata()) == [0, 0]]
    assert len(zero) == 1
    assert "Difference from retaliation 0.1" in ax.get_ylabel()
    assert "(percentage points)" in ax.get_ylabel()
    assert ax.get_legend().get_title().get_text() == "Proportionality"


def test_difference_chart_marks_the_reference_point_with_a_hollow_marker():
    table = difference_table()
    fig = difference_chart(
        table, lever="retaliation", lever_label="Retaliation", title="t", caption=CAPTION,
        reference_label="retaliation 0.1", series="proportionality",
    )  # fmt: skip
    ax = fig.axes[0]
    hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() == "white"]
    assert len(hollow) == 2  # one reference point per series
    for line in hollow:
        assert list(line.get_ydata()) == [0.0]
        assert line.get_xdata()[0] == pytest.approx(0.1, abs=0.1)  # nudged sideways, less than half a gap
    assert hollow[0].get_xdata()[0] != hollow[1].get_xdata()[0]
    assert "Reference point" in [t.get_text() for t in ax.get_legend().get_texts()]
    # The filled dots leave the reference point out; their bars span the intervals in points.
    filled = [
        line for line in ax.get_lines()
        if line.get_linestyle() == "None" and line.get_markerfacecolor() != "white"
    ]  # fmt: skip
    assert sum(len(line.get_ydata()) for line in filled) == len(table) - 2
    bars = np.concatenate(
        [segment for c in ax.collections if isinstance(c, LineCollection) for segment in c.get_segments()]
    )
    shown = table[table["retaliation"] != 0.1]
    assert bars[:, 1].min() == pytest.approx(100 * shown["lower"].min())
    assert bars[:, 1].max() == pytest.approx(100 * shown["upper"].max())


def test_difference_chart_without_a_reference_row_draws_no_hollow_marker():
    table = difference_table()
    table = table[table["retaliation"] != 0.1]
    fig = difference_chart(
        table, lever="retaliation", lever_label="Retaliation", title="t", caption=CAPTION,
        reference_label="retaliation 0.1", series="proportionality",
    )  # fmt: skip
    ax = fig.axes[0]
    assert [line for line in ax.get_lines() if line.get_markerfacecolor() == "white"] == []
    assert "Reference point" not in [t.get_text() for t in ax.get_legend().get_texts()]


def test_qq_uniform_plots_sorted_residuals_against_uniform_quantiles():
    from escalation.plots import qq_uniform

    residuals = np.array([0.9, 0.1, 0.5, 0.3])
    figure = qq_uniform(residuals, title="Fit check", caption=CAPTION)
    ax = figure.axes[0]
    points = next(line for line in ax.get_lines() if line.get_marker() == "o")
    assert np.allclose(points.get_xdata(), [0.125, 0.375, 0.625, 0.875])
    assert np.allclose(points.get_ydata(), [0.1, 0.3, 0.5, 0.9])
    assert figure._suptitle.get_text() == "Fit check"


def test_heatmap_colour_scale_follows_the_grid_so_small_probabilities_differ():
    # On a fixed 0-100% scale 5% and 11% were nearly one colour; on the grid's own range they are the ends.
    fig = heatmap_chart(
        heatmap_grid([[0.05, 0.07, 0.11], [0.06, 0.08, 0.10]]), x="x", y="y", x_label="x", y_label="y",
        title="t", caption=CAPTION, contour=None,
    )  # fmt: skip
    image = fig.axes[0].images[0]
    assert image.norm.vmin == 5.0 and image.norm.vmax == 15.0
    low, high = image.cmap(image.norm(5.0)), image.cmap(image.norm(11.0))
    assert np.abs(np.subtract(low[:3], high[:3])).max() > 0.3


def test_heatmap_contour_is_smooth_and_still_crosses_between_the_right_cells():
    fig = heatmap_chart(
        heatmap_grid([[0.2, 0.45, 0.7], [0.1, 0.35, 0.6]]), x="x", y="y", x_label="x", y_label="y",
        title="t", caption=CAPTION, contour=0.5,
    )  # fmt: skip
    (lines,) = contours(fig.axes[0])
    vertices = np.concatenate([path.vertices for path in lines.get_paths() if len(path.vertices)])
    # A spline surface gives many short segments, not the few corners of a linear trace between 2x3 cells.
    assert len(vertices) > 20
    assert vertices[:, 0].min() > 1.0 and vertices[:, 0].max() < 2.0
