import warnings

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from escalation.ladder import DEFAULT_RUNG_NAMES
from escalation.plots import (
    Caption,
    arms_chart,
    fan_chart,
    house_style,
    ladder_chart,
    save_figure,
    threshold_chart,
)

CAPTION = Caption(
    experiment="baseline",
    replications=10_000,
    seed=20231027,
    run_date="2026-11-24",
    version="0.1.0",
    scenario="october_2023",
)


# --------------------------------------------------------------------------------------------------------
# Small hand-made tables
# --------------------------------------------------------------------------------------------------------


def cumulative_table(days: int = 10) -> pd.DataFrame:
    day = np.arange(days)
    q50 = 2 * (day + 1)
    return pd.DataFrame(
        {
            "day": day,
            "date": pd.Timestamp("2023-10-27") + pd.to_timedelta(day, unit="D"),
            "mean": q50 + 0.4,
            "q05": q50 - 2,
            "q25": q50 - 1,
            "q50": q50,
            "q75": q50 + 1,
            "q95": q50 + 3,
        }
    )


def observed_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2023-10-20", "2023-10-24", "2023-10-26"]),
            "count": [4, 10, 19],
            "lower_bound": [False, False, True],
        }
    )


def curves_table(days: int = 20) -> pd.DataFrame:
    """Rungs 1..7; rung 7 never reached."""
    frames = []
    day = np.arange(days)
    for rung in range(1, 8):
        p = np.zeros(days) if rung == 7 else np.clip((day + 1) / (days * rung / 3), 0, 1)
        frames.append(
            pd.DataFrame(
                {
                    "rung": rung,
                    "rung_name": DEFAULT_RUNG_NAMES[rung],
                    "day": day,
                    "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(day, unit="D"),
                    "probability": p,
                    "lower": np.clip(p - 0.02, 0, 1),
                    "upper": np.clip(p + 0.02, 0, 1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def threshold_table() -> pd.DataFrame:
    names = ["first_fatality", "strike_on_patron", "regional_war"]
    labels = ["First fatality", "Strike on the patron's forces or territory", "Regional war"]
    rows = []
    for name, label, p30, p90 in zip(names, labels, [0.50, 0.20, 0.01], [0.80, 0.45, 0.03], strict=True):
        for horizon, p in ((30, p30), (90, p90)):
            rows.append(
                {
                    "threshold": name,
                    "label": label,
                    "horizon_days": horizon,
                    "probability": p,
                    "lower": max(p - 0.03, 0.0),
                    "upper": min(p + 0.03, 1.0),
                }
            )
    return pd.DataFrame(rows)


def arms_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    thresholds = [("fatality", "First fatality"), ("war", "Regional war")]
    arms = [
        ("low", "Low rho", [0.60, 0.05]),
        ("high", "High rho", [0.55, 0.12]),
        ("mid", "Mid rho", [0.58, 0.08]),
    ]
    table = pd.DataFrame(
        [
            {
                "arm": arm,
                "arm_label": arm_label,
                "threshold": name,
                "label": label,
                "horizon_days": 90,
                "probability": p,
                "lower": p - 0.02,
                "upper": p + 0.02,
            }
            for arm, arm_label, ps in arms
            for (name, label), p in zip(thresholds, ps, strict=True)
        ]
    )
    differences = pd.DataFrame(
        [
            {
                "arm": arm,
                "arm_label": arm_label,
                "threshold": name,
                "label": label,
                "difference": p - ref,
                "lower": p - ref - 0.01,
                "upper": p - ref + 0.01,
            }
            for arm, arm_label, ps in arms[1:]
            for (name, label), p, ref in zip(thresholds, ps, arms[0][2], strict=True)
        ]
    )
    return table, differences


def all_figures() -> dict[str, tuple[Figure, str]]:
    table, differences = arms_tables()
    titles = {
        "fan": "How many attacks?",
        "ladder": "How far up?",
        "threshold": "How likely?",
        "arms": "Does rho matter?",
    }
    return {
        "fan": (fan_chart(cumulative_table(), title=titles["fan"], caption=CAPTION), titles["fan"]),
        "ladder": (ladder_chart(curves_table(), title=titles["ladder"], caption=CAPTION), titles["ladder"]),
        "threshold": (
            threshold_chart(threshold_table(), title=titles["threshold"], caption=CAPTION),
            titles["threshold"],
        ),
        "arms": (
            arms_chart(table, differences, title=titles["arms"], caption=CAPTION, reference="low"),
            titles["arms"],
        ),
    }


def lines_with_marker(ax, marker: str = "o"):
    return [line for line in ax.get_lines() if line.get_marker() == marker]


# --------------------------------------------------------------------------------------------------------
# Caption and shared properties
# --------------------------------------------------------------------------------------------------------


def test_caption_text_is_one_line_with_thousands_separator():
    assert CAPTION.text() == (
        "baseline · october_2023 · 10,000 replications · seed 20231027 · escalation 0.1.0 · run on 2026-11-24"
    )
    plain = Caption("sweep", 1, 7, "2026-01-02", "0.2.0")
    assert plain.text() == "sweep · 1 replication · seed 7 · escalation 0.2.0 · run on 2026-01-02"


@pytest.mark.parametrize("name", ["fan", "ladder", "threshold", "arms"])
def test_every_chart_has_title_axis_labels_and_caption(name):
    fig, title = all_figures()[name]
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == title
    assert fig.axes
    for ax in fig.axes:
        assert ax.get_xlabel().strip()
        # A panel that shares the y axis of its left neighbour (tick labels hidden) shares its label too.
        if any(label.get_visible() and label.get_text() for label in ax.get_yticklabels()):
            assert ax.get_ylabel().strip()
    assert fig.axes[0].get_ylabel().strip()
    assert CAPTION.text() in [text.get_text() for text in fig.texts]


@pytest.mark.parametrize("name", ["fan", "ladder", "threshold", "arms"])
def test_layout_succeeds_and_keeps_title_caption_and_value_labels_in_view(name):
    fig, _ = all_figures()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "constrained_layout not applied"
        fig.draw_without_rendering()
    page = fig.bbox
    caption = next(t for t in fig.texts if t.get_text() == CAPTION.text())
    for artist in (caption, fig._suptitle):
        box = artist.get_window_extent()
        assert box.x0 >= page.x0 - 1 and box.x1 <= page.x1 + 1
        assert box.y0 >= page.y0 - 1 and box.y1 <= page.y1 + 1
    # The caption sits below every axes and its decorations.
    for ax in fig.axes:
        assert ax.get_tightbbox().y0 >= caption.get_window_extent().y1 - 1
    # Labels of series ends may sit right of the axes but inside the page; value labels beside dots stay
    # inside their axes.
    for ax in fig.axes:
        frame = page if name in ("fan", "ladder") else ax.get_window_extent()
        assert ax.texts
        for text in ax.texts:
            box = text.get_window_extent()
            assert box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1, text.get_text()


def test_figures_are_not_left_open_in_pyplot():
    before = plt.get_fignums()
    all_figures()
    assert plt.get_fignums() == before


def test_house_style_sets_and_restores_rc():
    default = plt.rcParams["axes.spines.top"]
    with house_style():
        assert plt.rcParams["axes.spines.top"] is False
        assert plt.rcParams["legend.frameon"] is False
    assert plt.rcParams["axes.spines.top"] == default


def test_missing_column_is_reported_by_name():
    with pytest.raises(ValueError, match="q95"):
        fan_chart(cumulative_table().drop(columns="q95"), title="t", caption=CAPTION)


# --------------------------------------------------------------------------------------------------------
# fan_chart
# --------------------------------------------------------------------------------------------------------


def test_fan_chart_adds_offset_to_the_median():
    cumulative = cumulative_table()
    fig = fan_chart(cumulative, title="t", caption=CAPTION, offset=19)
    (median,) = [line for line in fig.axes[0].get_lines() if line.get_label() == "Simulated median"]
    np.testing.assert_array_equal(median.get_ydata(), cumulative["q50"].to_numpy() + 19)
    np.testing.assert_array_equal(median.get_xdata(), cumulative["date"].to_numpy())
    # The 90% band spans q05..q95 plus the offset.
    band = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == cumulative["q05"].min() + 19
    assert band.max() == cumulative["q95"].max() + 19


def test_fan_chart_draws_observed_points_and_marks_lower_bounds():
    observed = observed_table()
    fig = fan_chart(cumulative_table(), title="t", caption=CAPTION, observed=observed, offset=19)
    ax = fig.axes[0]
    markers = {line.get_label(): line for line in lines_with_marker(ax)}
    exact, bound = markers["Observed"], markers["Observed (at least)"]
    np.testing.assert_array_equal(exact.get_ydata(), [4, 10])
    np.testing.assert_array_equal(bound.get_ydata(), [19])
    assert bound.get_markerfacecolor() == "white"
    assert exact.get_markerfacecolor() != "white"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Observed (at least)" in legend
    assert any(text.startswith("Forecast starts 27 Oct 2023") for text in legend)
    # A dashed vertical line at the first simulated date separates the record from the forecast.
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1
    assert pd.Timestamp(dashed[0].get_xdata()[0]) == pd.Timestamp("2023-10-27")
    # The x axis starts early enough to show the first observation.
    assert ax.get_xlim()[0] <= matplotlib.dates.date2num(pd.Timestamp("2023-10-20"))


@pytest.mark.parametrize("observed", [None, observed_table().iloc[:0]])
def test_fan_chart_without_observations_has_no_markers(observed):
    fig = fan_chart(cumulative_table(), title="t", caption=CAPTION, observed=observed)
    assert lines_with_marker(fig.axes[0]) == []
    assert "Forecast starts" not in " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())


# --------------------------------------------------------------------------------------------------------
# ladder_chart
# --------------------------------------------------------------------------------------------------------


def rung_lines(fig):
    return [line for line in fig.axes[0].get_lines() if line.get_label().startswith("≥")]


def test_ladder_chart_draws_one_line_per_requested_rung():
    curves = curves_table()
    fig = ladder_chart(curves, title="t", caption=CAPTION, rungs=[3, 5])
    lines = rung_lines(fig)
    assert [line.get_label() for line in lines] == ["≥ 3 lethal", "≥ 5 patron strike"]
    expected = curves.loc[curves["rung"] == 5, "probability"].to_numpy() * 100
    np.testing.assert_allclose(lines[1].get_ydata(), expected)
    assert fig.axes[0].get_ylim() == (0, 101)
    assert fig.axes[0].get_ylabel() == "Probability (%)"


def test_ladder_chart_default_leaves_out_harassment_and_never_reached_rungs():
    fig = ladder_chart(curves_table(), title="t", caption=CAPTION)
    labels = [line.get_label() for line in rung_lines(fig)]
    assert labels == [f"≥ {k} {DEFAULT_RUNG_NAMES[k]}" for k in range(2, 7)]


def test_ladder_chart_rejects_a_rung_not_in_the_table():
    curves = curves_table()
    with pytest.raises(ValueError, match="rungs"):
        ladder_chart(curves[curves["rung"] != 4], title="t", caption=CAPTION, rungs=[4])


# --------------------------------------------------------------------------------------------------------
# threshold_chart
# --------------------------------------------------------------------------------------------------------


def test_threshold_chart_draws_one_dot_per_threshold_at_its_percentage():
    table = threshold_table()
    fig = threshold_chart(table, title="t", caption=CAPTION)
    ax = fig.axes[0]
    (dots,) = lines_with_marker(ax)
    at_90 = table[table["horizon_days"] == 90]
    np.testing.assert_allclose(dots.get_xdata(), 100 * at_90["probability"].to_numpy())
    assert len(dots.get_xdata()) == 3
    assert ax.get_xlabel() == "Probability by day 90 (%)"
    assert {t.get_text() for t in ax.texts} == {"80%", "45%", "3.0%"}


def test_threshold_chart_picks_the_requested_horizon():
    table = threshold_table()
    fig = threshold_chart(table, title="t", caption=CAPTION, horizon=30)
    (dots,) = lines_with_marker(fig.axes[0])
    np.testing.assert_allclose(dots.get_xdata(), [50.0, 20.0, 1.0])
    assert fig.axes[0].get_xlabel() == "Probability by day 30 (%)"
    with pytest.raises(ValueError, match="horizon"):
        threshold_chart(table, title="t", caption=CAPTION, horizon=180)


def test_threshold_chart_moves_a_label_near_100_percent_inside_the_axes():
    table = threshold_table()
    table.loc[table["threshold"] == "first_fatality", ["probability", "lower", "upper"]] = [0.99, 0.98, 1.0]
    fig = threshold_chart(table, title="t", caption=CAPTION)
    (label,) = [t for t in fig.axes[0].texts if t.get_text() == "99%"]
    assert label.get_horizontalalignment() == "right"


# --------------------------------------------------------------------------------------------------------
# arms_chart
# --------------------------------------------------------------------------------------------------------


def test_arms_chart_right_panel_shows_paired_differences_in_points():
    table, differences = arms_tables()
    fig = arms_chart(table, differences, title="t", caption=CAPTION, reference="low")
    left, right = fig.axes
    right_dots = {line.get_label(): line for line in lines_with_marker(right)}
    assert set(right_dots) == {"High rho", "Mid rho"}
    for arm, label in (("high", "High rho"), ("mid", "Mid rho")):
        rows = differences[differences["arm"] == arm]
        np.testing.assert_allclose(right_dots[label].get_xdata(), 100 * rows["difference"].to_numpy())
        # Each arm sits on the same row positions in both panels.
        left_dots = {line.get_label(): line for line in lines_with_marker(left)}
        np.testing.assert_allclose(right_dots[label].get_ydata(), left_dots[label].get_ydata())
    # Rows: threshold k sits near y = k.
    np.testing.assert_allclose(np.round(right_dots["High rho"].get_ydata()), [0, 1])
    assert "Low rho" in right.get_xlabel() and "percentage points" in right.get_xlabel()
    zero = [line for line in right.get_lines() if list(line.get_xdata()) == [0, 0]]
    assert len(zero) == 1


def test_arms_chart_left_panel_has_every_arm_in_its_own_colour():
    table, differences = arms_tables()
    fig = arms_chart(table, differences, title="t", caption=CAPTION, reference="low")
    left_dots = lines_with_marker(fig.axes[0])
    assert len(left_dots) == 3
    assert len({line.get_color() for line in left_dots}) == 3
    low = next(line for line in left_dots if line.get_label() == "Low rho")
    np.testing.assert_allclose(low.get_xdata(), [60.0, 5.0])


def test_arms_chart_rejects_an_unknown_reference():
    table, differences = arms_tables()
    with pytest.raises(ValueError, match="reference"):
        arms_chart(table, differences, title="t", caption=CAPTION, reference="none")


# --------------------------------------------------------------------------------------------------------
# save_figure
# --------------------------------------------------------------------------------------------------------


def test_save_figure_writes_png_and_svg_of_the_right_size(tmp_path):
    fig = threshold_chart(threshold_table(), title="t", caption=CAPTION)
    width, height = fig.get_size_inches()
    directory = tmp_path / "run" / "figures"
    paths = save_figure(fig, directory, "thresholds", dpi=100)
    assert paths == [directory / "thresholds.png", directory / "thresholds.svg"]
    assert all(path.stat().st_size > 0 for path in paths)
    assert sorted(p.name for p in directory.iterdir()) == ["thresholds.png", "thresholds.svg"]
    pixels = matplotlib.image.imread(paths[0])
    assert pixels.shape[:2] == (round(height * 100), round(width * 100))
    assert paths[1].read_text().lstrip().startswith("<?xml")


def test_save_figure_default_dpi_gives_slide_sized_png(tmp_path):
    fig = fan_chart(cumulative_table(), title="t", caption=CAPTION)
    (png,) = save_figure(fig, tmp_path, "fan", formats=("png",))
    assert matplotlib.image.imread(png).shape[:2] == (1125, 2000)


def test_save_figure_closes_a_pyplot_figure(tmp_path):
    fig = plt.figure(figsize=(4, 3))
    number = fig.number
    save_figure(fig, tmp_path, "plain", formats=("png",))
    assert not plt.fignum_exists(number)


def test_save_figure_leaves_no_temporary_file_when_writing_fails(tmp_path):
    (tmp_path / "f.png").write_bytes(b"old")
    fig = fan_chart(cumulative_table(), title="t", caption=CAPTION)
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path, "f", formats=("png", "not-a-format"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]
    assert (tmp_path / "f.png").read_bytes() != b"old"  # the png was replaced before the failure


def test_long_titles_wrap_to_the_figure_width_and_keep_every_word():
    title = "How likely is escalation over the next 180 days, as calibrated to October 2023 and the record?"
    figure = threshold_chart(threshold_table(), title=title, caption=CAPTION)
    shown = figure._suptitle.get_text()
    assert "\n" in shown
    assert shown.split() == title.split()
    figure.canvas.draw()
    box = figure._suptitle.get_window_extent()
    assert box.x1 <= figure.bbox.x1


# --------------------------------------------------------------------------------------------------------
# Figure fixes of issue 13: legends clear of titles, whole dots at 0%, bin counts
# --------------------------------------------------------------------------------------------------------


def test_ladder_legend_does_not_overlap_the_title_with_a_parameter_panel():
    curves = curves_table()
    curves = curves.assign(parameter_lower=curves["lower"] / 2, parameter_upper=curves["upper"])
    fig = ladder_chart(
        curves, title="Escalation ladder: probability of reaching each rung (Hawkish)", caption=CAPTION
    )
    fig.draw_without_rendering()
    title = fig._suptitle.get_window_extent()
    legend = fig.legends[0].get_window_extent()
    assert legend.y1 < title.y0 or legend.x0 > title.x1, (legend, title)


def test_a_zero_percent_estimate_is_drawn_whole_at_the_axis_edge():
    table = threshold_table()
    table.loc[table["threshold"] == "regional_war", ["probability", "lower", "upper"]] = 0.0
    fig = threshold_chart(table, title="t", caption=CAPTION)
    dots = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]
    assert dots and all(not line.get_clip_on() for line in dots)


def test_intervals_have_end_caps_at_their_bounds():
    table = threshold_table()
    fig = threshold_chart(table, title="t", caption=CAPTION)
    (caps,) = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    rows = table[table["horizon_days"] == 90]
    expected = 100 * np.concatenate([rows["lower"].to_numpy(), rows["upper"].to_numpy()])
    np.testing.assert_allclose(sorted(caps.get_offsets()[:, 0]), sorted(expected))


def test_reliability_diagram_labels_every_bin_with_its_count():
    from escalation.plots import reliability_diagram

    table = pd.DataFrame(
        {"mean_forecast": [0.1, 0.4, 0.8], "observed_frequency": [0.0, 0.5, 0.75], "forecasts": [12, 3, 40]}
    )
    fig = reliability_diagram(table, title="t", caption=CAPTION)
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["n = 12", "n = 3", "n = 40"]


def test_fan_chart_says_what_it_counts_and_marks_the_drivers_inside_its_days():
    # The table runs 27 Oct - 5 Nov 2023: a driver on 28 Oct is marked (a dotted line and its label), one
    # on 26 Nov is outside the simulated days and is not.
    fig = fan_chart(
        cumulative_table(),
        title="t",
        caption=CAPTION,
        counting="Counts the attacks by A and B (the background war)",
        markers=[("2023-10-28", "ground invasion"), ("2023-11-26", "air defence")],
    )
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Counts the attacks by A and B (the background war)"
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == 1
    assert pd.Timestamp(dotted[0].get_xdata()[0]) == pd.Timestamp("2023-10-28")
    labels = [text.get_text() for text in ax.texts]
    assert "ground invasion" in labels and "air defence" not in labels


def test_arms_chart_value_labels_of_nearly_equal_arms_do_not_overlap():
    # Four arms on four events: the dodged rows of one event are a few points apart, and two arms have
    # nearly equal probabilities (50.0% and 50.2%), so labels written at the same side of their intervals
    # would be drawn over each other.
    values = {"a": 0.500, "b": 0.502, "c": 0.506, "d": 0.510}
    table = pd.DataFrame(
        [
            {"arm": arm, "arm_label": arm.upper(), "threshold": f"t{k}", "label": f"Event {k}",
             "horizon_days": 90, "probability": p, "lower": p - 0.03, "upper": p + 0.03}
            for arm, p in values.items()
            for k in range(4)
        ]
    )  # fmt: skip
    differences = pd.DataFrame(
        [
            {"arm": arm, "arm_label": arm.upper(), "threshold": f"t{k}", "label": f"Event {k}",
             "difference": p - 0.5, "lower": p - 0.502, "upper": p - 0.498}
            for arm, p in values.items()
            if arm != "a"
            for k in range(4)
        ]
    )  # fmt: skip
    fig = arms_chart(table, differences, title="Close arms", caption=CAPTION, reference="a")
    fig.draw_without_rendering()
    for ax in fig.axes:
        labels = [t for t in ax.texts if t.get_text().endswith(("%", "pp"))]
        assert len(labels) == (16 if ax is fig.axes[0] else 12)
        boxes = [t.get_window_extent() for t in labels]
        frame = ax.get_window_extent()
        for i, box in enumerate(boxes):
            assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1, labels[i].get_text()
            for j in range(i):
                assert not box.overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())
