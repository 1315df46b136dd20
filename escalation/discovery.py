"""Scenario discovery: under which parameter values does an outcome (a regional war, say) happen?

Two readings of the same table of runs (one row per replication or design run, its parameter values and a
yes/no outcome):

- **PRIM boxes** (Friedman and Fisher's patient rule induction, as implemented by EMA Workbench): a box is a
  range on a few parameters. Its *coverage* is the share of all the runs with the outcome that fall in the
  box, its *density* the share of the runs in the box that have the outcome, its *mass* the share of all runs
  in the box. PRIM peels the box from the whole space, trading coverage for density; each box reported here
  is the point of that trajectory with the largest coverage x density among those whose coverage is at least
  ``min_coverage`` (the densest points tend to add restrictions that only trim noise). Further boxes are
  searched among the runs the earlier boxes leave out, and there coverage is measured against the runs with
  the outcome that remain (``coverage_of_remaining``; EMA's own coverage, kept in ``coverage``, counts all of
  them, so after a first box took ``min_coverage`` of them no second box could reach it). Every box must
  also be denser in the outcome than the runs are overall.
- **A shallow classification tree** (scikit-learn): a few yes/no splits on the parameters; each leaf has a
  density (the outcome's rate in the leaf) and a coverage like a box's.

Both find conditions, not causes: a parameter that is correlated with an influential one in the runs can
stand in for it, and the design's ranges (priors and posteriors) bound what can be found.

References:
    Friedman, J. H., Fisher, N. I. (1999). Bump hunting in high-dimensional data. Statistics and Computing
        9(2), 123-143.
    Bryant, B. P., Lempert, R. J. (2010). Thinking inside the box: a participatory, computer-assisted approach
        to scenario discovery. Technological Forecasting and Social Change 77(1), 34-49.
    Kwakkel, J. H. (2017). The Exploratory Modeling Workbench. Environmental Modelling & Software 96, 239-250.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

BOX_COLUMNS = ["box", "coverage", "coverage_of_remaining", "density", "mass", "restricted_dimensions"]
LIMIT_COLUMNS = ["box", "parameter", "low", "high"]
TRAJECTORY_COLUMNS = [
    "box",
    "step",
    "coverage",
    "coverage_of_remaining",
    "density",
    "mass",
    "restricted_dimensions",
    "selected",
]
LEAF_COLUMNS = ["leaf", "rule", "runs", "positives", "density", "coverage"]


@dataclass(frozen=True)
class Discovery:
    """What scenario discovery found for one outcome.

    Attributes:
        outcome: the outcome's name (e.g. ``regional_war@180``).
        runs: runs analysed.
        positives: runs with the outcome.
        boxes: one row per PRIM box: ``box, coverage, coverage_of_remaining, density, mass,
            restricted_dimensions`` (coverage of all the runs with the outcome, and of those the earlier
            boxes left; equal for the first box).
        limits: one row per box and restricted parameter: ``box, parameter, low, high`` (the box's range;
            the other parameters are unrestricted).
        trajectory: PRIM's peeling trajectory of every box: ``box, step, coverage, coverage_of_remaining,
            density, mass, restricted_dimensions, selected``.
        leaves: one row per leaf of the tree: ``leaf, rule, runs, positives, density, coverage``.
        tree_text: the tree as indented text (scikit-learn's ``export_text``).
        note: why a part is empty (no run, or every run, with the outcome), else empty.
    """

    outcome: str
    runs: int
    positives: int
    boxes: pd.DataFrame
    limits: pd.DataFrame
    trajectory: pd.DataFrame
    leaves: pd.DataFrame
    tree_text: str
    note: str = ""


def _ema_prim():
    """EMA Workbench's PRIM module, imported quietly (it warns about optional parallel back-ends)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim
    logging.getLogger("EMA").setLevel(logging.WARNING)
    return prim


def prim_boxes(
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    min_coverage: float = 0.5,
    max_boxes: int = 2,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """PRIM boxes for a yes/no outcome (EMA Workbench), as tables.

    Args:
        x: one row per run, one numeric column per parameter.
        y: (runs,) whether the outcome happened.
        min_coverage: each box is the point of its peeling trajectory with the largest coverage x density
            among those with at least this coverage of the runs with the outcome that the earlier boxes
            left, and a density above the outcome's rate over all runs.
        max_boxes: boxes to search at most (each among the runs the earlier boxes leave out).
        peel_alpha: share of the runs peeled off at each step.
        mass_min: the smallest share of all runs a box may hold.

    Returns:
        ``(boxes, limits, trajectory)``; see :class:`Discovery`.
    """
    if not 0 < min_coverage <= 1:
        raise ValueError(f"min_coverage: must be in (0, 1], got {min_coverage}")
    prim = _ema_prim()
    y = np.asarray(y, dtype=bool)
    x = x.astype(float).reset_index(drop=True)
    # EMA's threshold both marks the cases of interest (y >= threshold: the runs with the outcome) and is the
    # density a box must reach to be kept (a box below it is replaced by the whole space, losing its
    # trajectory). A tiny threshold keeps every peeled box; the choice along the trajectory is made here.
    with warnings.catch_warnings():  # EMA's own use of a deprecated pandas keyword
        warnings.simplefilter("ignore")
        finder = prim.Prim(x, y.astype(float), threshold=1e-9, peel_alpha=peel_alpha, mass_min=mass_min)
    base_rate = float(y.mean())
    boxes, limits, trajectory = [], [], []
    for number in range(1, max_boxes + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            box = finder.find_box()
        if box is None:
            break
        remaining = float(finder.determine_coi(finder.yi_remaining))  # positives the earlier boxes left
        steps = box.peeling_trajectory.copy()
        steps["coverage_of_remaining"] = steps["k"] / remaining if remaining > 0 else 0.0
        # A box must also hold the outcome more often than the runs do overall: among what the earlier boxes
        # left, a wide box over the remaining positives can reach the coverage below the base rate.
        eligible = steps[(steps["coverage_of_remaining"] >= min_coverage) & (steps["density"] > base_rate)]
        if eligible.empty or int(eligible["res_dim"].max()) == 0:
            break
        chosen = int((eligible["coverage_of_remaining"] * eligible["density"]).idxmax())
        box.select(chosen)
        table = steps[["coverage", "coverage_of_remaining", "density", "mass", "res_dim"]].rename(
            columns={"res_dim": "restricted_dimensions"}
        )
        table.insert(0, "step", np.arange(len(table)))
        table.insert(0, "box", number)
        table["selected"] = table["step"] == chosen
        trajectory.append(table)
        lims, init = box.box_lims[chosen], finder.box_init
        restricted = [name for name in x.columns if (lims[name] != init[name]).any()]
        for name in restricted:
            limits.append(
                {
                    "box": number,
                    "parameter": str(name),
                    "low": float(lims.loc[0, name]),
                    "high": float(lims.loc[1, name]),
                }
            )
        row = steps.loc[chosen]
        boxes.append(
            {
                "box": number,
                "coverage": float(row["coverage"]),
                "coverage_of_remaining": float(row["coverage_of_remaining"]),
                "density": float(row["density"]),
                "mass": float(row["mass"]),
                "restricted_dimensions": len(restricted),
            }
        )
        if float(row["coverage_of_remaining"]) >= 1.0:
            break
    return (
        pd.DataFrame(boxes, columns=BOX_COLUMNS),
        pd.DataFrame(limits, columns=LIMIT_COLUMNS),
        pd.concat(trajectory, ignore_index=True) if trajectory else pd.DataFrame(columns=TRAJECTORY_COLUMNS),
    )


def tree_leaves(
    x: pd.DataFrame, y: np.ndarray, *, max_depth: int = 3, min_leaf: float = 0.02, seed: int = 0
) -> tuple[pd.DataFrame, str]:
    """A shallow classification tree of a yes/no outcome on the parameters, as a table of its leaves.

    Args:
        x: one row per run, one numeric column per parameter.
        y: (runs,) whether the outcome happened.
        max_depth: the tree's depth (2 or 3 keeps it readable).
        min_leaf: the smallest share of the runs a leaf may hold.
        seed: the tree's random state (ties between equally good splits).

    Returns:
        ``(leaves, text)``: one row per leaf (``leaf, rule, runs, positives, density, coverage``), densest
        first, and the tree as indented text.
    """
    from sklearn.tree import DecisionTreeClassifier, export_text

    y = np.asarray(y, dtype=bool)
    tree = DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=max(1, int(min_leaf * len(y))), random_state=seed
    ).fit(x.to_numpy(dtype=float), y)
    structure = tree.tree_
    names = list(x.columns)
    rules: dict[int, list[str]] = {0: []}
    stack = [0]
    while stack:
        node = stack.pop()
        left, right = structure.children_left[node], structure.children_right[node]
        if left == right:
            continue
        name, cut = names[structure.feature[node]], structure.threshold[node]
        rules[left] = [*rules[node], f"{name} <= {cut:.4g}"]
        rules[right] = [*rules[node], f"{name} > {cut:.4g}"]
        stack += [left, right]
    leaf_of_run = tree.apply(x.to_numpy(dtype=float))
    total = max(int(y.sum()), 1)
    rows = []
    for leaf in np.unique(leaf_of_run):
        inside = leaf_of_run == leaf
        positives = int(y[inside].sum())
        rows.append(
            {
                "leaf": int(leaf),
                "rule": " and ".join(rules[int(leaf)]) or "(all runs)",
                "runs": int(inside.sum()),
                "positives": positives,
                "density": positives / int(inside.sum()),
                "coverage": positives / total,
            }
        )
    leaves = pd.DataFrame(rows).sort_values("density", ascending=False, ignore_index=True)
    return leaves, export_text(tree, feature_names=names)


def discover(
    x: pd.DataFrame,
    y: np.ndarray,
    outcome: str,
    *,
    min_coverage: float = 0.5,
    max_boxes: int = 2,
    max_depth: int = 3,
    seed: int = 0,
) -> Discovery:
    """PRIM boxes and a shallow tree for one yes/no outcome over the runs ``x`` (see the module's text)."""
    y = np.asarray(y, dtype=bool)
    if len(y) != len(x):
        raise ValueError(f"y: {len(y)} outcomes for {len(x)} runs")
    x = x.loc[:, x.nunique() > 1]  # a parameter fixed in every run cannot bound a box
    positives = int(y.sum())
    if positives == 0 or positives == len(y) or x.shape[1] == 0:
        reason = (
            "no parameter varies"
            if x.shape[1] == 0
            else f"{'no' if positives == 0 else 'every'} run has the outcome {outcome}"
        )
        return Discovery(
            outcome=outcome,
            runs=len(y),
            positives=positives,
            boxes=pd.DataFrame(columns=BOX_COLUMNS),
            limits=pd.DataFrame(columns=LIMIT_COLUMNS),
            trajectory=pd.DataFrame(columns=TRAJECTORY_COLUMNS),
            leaves=pd.DataFrame(columns=LEAF_COLUMNS),
            tree_text="",
            note=f"nothing to discover: {reason}",
        )
    boxes, limits, trajectory = prim_boxes(x, y, min_coverage=min_coverage, max_boxes=max_boxes)
    leaves, text = tree_leaves(x, y, max_depth=max_depth, seed=seed)
    note = "" if len(boxes) else f"no box restricts a parameter with coverage >= {min_coverage}"
    return Discovery(
        outcome=outcome,
        runs=len(y),
        positives=positives,
        boxes=boxes,
        limits=limits,
        trajectory=trajectory,
        leaves=leaves,
        tree_text=text,
        note=note,
    )


def replication_parameters(replications: pd.DataFrame) -> pd.DataFrame:
    """The parameter columns of a replications table (``param[<path>]``), named by their paths."""
    columns = [c for c in replications.columns if c.startswith("param[")]
    return replications[columns].rename(columns=lambda c: c[len("param[") : -1])


def happened_by(first_days: np.ndarray, horizon: int) -> np.ndarray:
    """Whether an event whose first day is ``first_days`` (-1: never) happened within ``horizon`` days."""
    first_days = np.asarray(first_days)
    return (first_days >= 0) & (first_days < horizon)
