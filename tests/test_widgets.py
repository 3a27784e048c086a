"""stelib.widgets: the pure draw callbacks, the static fallback figures, the ipywidgets
explorers (constructed and driven without a browser) and the import without ipywidgets.

The settings are kept small (few samples, few trials) so that the module runs in a
few seconds on a laptop CPU.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

import stelib
from stelib import plotting, widgets

ROOT = Path(__file__).resolve().parents[1]

# small, fast settings
TEMPERATURE = {"tau": 1.0, "n_points": 60, "n_trials": 4, "sweep": (0.5, 2.0)}
ESTIMATOR = {"n_trials": 40, "bins": 10}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _lines(ax, label: str):
    return [line for line in ax.get_lines() if line.get_label() == label]


def _scatter_offsets(ax) -> np.ndarray:
    parts = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
    return np.concatenate([np.asarray(p) for p in parts if len(p)])


def _vertical_lines_at(ax, x: float) -> list:
    return [
        line
        for line in ax.get_lines()
        if len(line.get_xdata()) == 2 and np.allclose(np.asarray(line.get_xdata(), float), x)
    ]


# --- chapter 3: temperature --------------------------------------------------------


def test_draw_temperature_artists():
    fig = widgets.draw_temperature(TEMPERATURE)
    assert isinstance(fig, Figure)
    simplex, bars, curves = fig.axes
    # every sample is a point on the simplex, inside the triangle
    xy = _scatter_offsets(simplex)
    assert xy.shape == (60, 2)
    assert (xy[:, 1] >= -1e-6).all() and (xy[:, 1] <= math.sqrt(3) / 2 + 1e-6).all()
    assert "1" in simplex.get_title()
    # three series of three bars: argmax frequency, mean of y, softmax
    heights = np.array([p.get_height() for p in bars.patches]).reshape(3, 3)
    assert heights[0].sum() == pytest.approx(1.0)
    assert heights[1].sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(heights[2], [0.6, 0.3, 0.1], atol=1e-6)
    # bias^2 and variance for both estimators over sweep + {tau}, and tau marked
    for name in widgets.TEMPERATURE_ESTIMATORS:
        (bias_line,) = _lines(curves, f"{name}: bias$^2$")
        (var_line,) = _lines(curves, f"{name}: variance")
        np.testing.assert_allclose(bias_line.get_xdata(), [0.5, 1.0, 2.0])
        assert (np.asarray(var_line.get_ydata()) > 0).all()
    assert _vertical_lines_at(curves, 1.0)
    assert curves.get_xscale() == "log"


def test_draw_temperature_is_deterministic_and_seeded():
    first = _scatter_offsets(widgets.draw_temperature(TEMPERATURE).axes[0])
    widgets._temperature_stats.cache_clear()
    again = widgets.draw_temperature(TEMPERATURE)
    np.testing.assert_array_equal(first, _scatter_offsets(again.axes[0]))
    other = _scatter_offsets(widgets.draw_temperature({**TEMPERATURE, "seed": 1}).axes[0])
    assert not np.array_equal(np.sort(first, 0), np.sort(other, 0))


def test_draw_temperature_follows_tau():
    """Small tau: samples at the corners (max_k y_k near 1); large tau: near the centre."""

    def largest_coordinate(tau: float) -> float:
        fig = widgets.draw_temperature({**TEMPERATURE, "tau": tau, "n_points": 200})
        xy = _scatter_offsets(fig.axes[0])
        corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
        # distance to the nearest corner is small exactly when one coordinate is near 1
        return float(np.min(np.linalg.norm(xy[:, None] - corners[None], axis=-1), 1).mean())

    assert largest_coordinate(0.05) < 0.05 < 0.3 < largest_coordinate(10.0)


def test_temperature_figure_panels():
    fig = widgets.temperature_figure(taus=(0.5, 2.0), n_points=30, n_trials=4)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes[:2]] == ["$\\tau$ = 0.5", "$\\tau$ = 2"]
    (line,) = _lines(fig.axes[2], "gumbel_softmax: variance")
    np.testing.assert_allclose(line.get_xdata(), [0.5, 2.0])


# --- chapter 2: surrogates ---------------------------------------------------------


def test_draw_surrogate_derivatives_match_the_library():
    fig = widgets.draw_surrogate({"f0": 0.5})
    left, right = fig.axes
    f = torch.as_tensor(_lines(right, "identity")[0].get_xdata(), dtype=torch.float32)
    expected = {
        "identity": torch.ones_like(f),
        "clipped": (f.abs() <= 1).float(),
        "sigmoid": torch.sigmoid(f) * (1 - torch.sigmoid(f)),
    }
    for name, values in expected.items():
        (line,) = _lines(right, name)
        np.testing.assert_allclose(line.get_ydata(), values.numpy(), atol=1e-6)
        # the pretend forward's slope is the surrogate derivative (away from the kinks)
        (forward,) = _lines(left, name)
        slope = np.gradient(np.asarray(forward.get_ydata(), float), f.numpy())
        smooth = (np.abs(np.abs(f.numpy()) - 1) > 0.05) & (np.abs(f.numpy()) > 0.05)
        np.testing.assert_allclose(slope[smooth], values.numpy()[smooth], atol=2e-3)
    (hard,) = _lines(left, "threshold")
    assert set(np.unique(hard.get_ydata())) == {0.0, 1.0}
    # f0 is marked on both panels, with the values in the titles
    assert _vertical_lines_at(left, 0.5) and _vertical_lines_at(right, 0.5)
    sigmoid_at = float(torch.sigmoid(torch.tensor(0.5)) * (1 - torch.sigmoid(torch.tensor(0.5))))
    assert f"sigmoid {sigmoid_at:.3g}" in right.get_title()
    assert "z = 1 at f = 0.50" in left.get_title()


def test_draw_surrogate_signed_and_single():
    fig = widgets.draw_surrogate({"backward": "sigmoid", "signed": True, "f0": -1.0})
    left, right = fig.axes
    assert [line.get_label() for line in right.get_lines() if line.get_label()[0] != "_"] == [
        "sigmoid"
    ]
    (hard,) = _lines(left, "threshold")
    assert set(np.unique(hard.get_ydata())) == {-1.0, 1.0}
    (line,) = _lines(right, "sigmoid")
    f = torch.as_tensor(line.get_xdata(), dtype=torch.float32)
    s = torch.sigmoid(f)
    np.testing.assert_allclose(line.get_ydata(), (2 * s * (1 - s)).numpy(), atol=1e-6)
    assert "z = -1 at f = -1.00" in left.get_title()


def test_surrogate_figure_has_every_surrogate():
    fig = widgets.surrogate_figure()
    labels = {line.get_label() for line in fig.axes[1].get_lines()}
    assert set(stelib.ste.SURROGATES) <= labels


# --- chapter 4: estimators ---------------------------------------------------------


def test_draw_estimator_histogram_against_exact():
    fig = widgets.draw_estimator({**ESTIMATOR, "estimator": "reinforce"})
    (ax,) = fig.axes
    assert len(ax.patches) == 10
    assert sum(p.get_height() for p in ax.patches) == 40
    exact = 0.25 * (1 - 2 * 0.45)  # sigma'(0) (1 - 2t)
    (line,) = [line for line in ax.get_lines() if line.get_label().startswith("exact")]
    assert float(line.get_xdata()[0]) == pytest.approx(exact, rel=1e-5)
    assert ax.get_title().startswith("reinforce, n = 1")
    assert "bias" in ax.get_title()


def test_draw_estimator_options_and_determinism():
    state = {**ESTIMATOR, "n_samples": 4, "baseline": "rloo"}
    first = [p.get_height() for p in widgets.draw_estimator(state).axes[0].patches]
    again = [p.get_height() for p in widgets.draw_estimator(state).axes[0].patches]
    assert first == again
    fig = widgets.draw_estimator({**ESTIMATOR, "estimator": "gumbel_softmax", "tau": 0.5})
    assert "$\\tau$ = 0.5" in fig.axes[0].get_title()
    fig = widgets.draw_estimator({**ESTIMATOR, "baseline": 0.25})
    assert "baseline 0.25" in fig.axes[0].get_title()


def test_estimator_figure_shares_bins():
    settings = ({"estimator": "reinforce"}, {"estimator": "reinforce", "baseline": 0.25})
    fig = widgets.estimator_figure(settings, n_trials=30)
    assert len(fig.axes) == 2
    edges = [sorted({round(p.get_x(), 9) for p in ax.patches}) for ax in fig.axes]
    assert edges[0] == edges[1]
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()


# --- bad arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: widgets.draw_temperature({"tau": 0}), ValueError, "tau"),
        (lambda: widgets.draw_temperature({"tau": "1"}), TypeError, "tau"),
        (lambda: widgets.draw_temperature({"temperature": 1}), ValueError, "unknown"),
        (lambda: widgets.draw_temperature([("tau", 1.0)]), TypeError, "state"),
        (lambda: widgets.draw_temperature({"probs": (0.5, 0.5)}), ValueError, "probs"),
        (lambda: widgets.draw_temperature({"probs": (0.5, -0.1, 0.6)}), ValueError, "probs"),
        (lambda: widgets.draw_temperature({"n_trials": 1}), ValueError, "n_trials"),
        (lambda: widgets.draw_temperature({"seed": -1}), ValueError, "seed"),
        (lambda: widgets.draw_temperature({"n_points": 2.5}), TypeError, "n_points"),
        (lambda: widgets.temperature_figure(taus=()), ValueError, "taus"),
        (lambda: widgets.temperature_figure(taus=(1.0, float("nan"))), ValueError, "taus"),
        (lambda: widgets.draw_surrogate({"backward": "relu"}), ValueError, "backward"),
        (lambda: widgets.draw_surrogate({"backward": ()}), ValueError, "backward"),
        (lambda: widgets.draw_surrogate({"f0": 5.0}), ValueError, "f0"),
        (lambda: widgets.draw_surrogate({"signed": "yes"}), TypeError, "signed"),
        (lambda: widgets.draw_estimator({"estimator": "nope"}), ValueError, "estimator"),
        (lambda: widgets.draw_estimator({"estimator": "gumbel_rao"}), ValueError, "Bernoulli"),
        (
            lambda: widgets.draw_estimator({"estimator": "straight_through", "baseline": "rloo"}),
            ValueError,
            "baseline",
        ),
        (lambda: widgets.draw_estimator({"baseline": "rloo"}), ValueError, "n_samples >= 2"),
        (lambda: widgets.draw_estimator({"baseline": "mean"}), ValueError, "baseline"),
        (lambda: widgets.draw_estimator({"tau": 0.5}), ValueError, "tau"),
        (lambda: widgets.draw_estimator({"p": 1.5}), ValueError, "p must be between"),
        (lambda: widgets.draw_estimator({"n_samples": 0}), ValueError, "n_samples"),
        (lambda: widgets.estimator_figure({"estimator": "reinforce"}), TypeError, "settings"),
        (lambda: widgets.estimator_figure(()), ValueError, "settings"),
        (lambda: widgets.temperature_explorer(tau=-1.0), ValueError, "tau"),
        (lambda: widgets.surrogate_explorer(backward="step"), ValueError, "backward"),
        (lambda: widgets.estimator_explorer(estimator="nope"), ValueError, "estimator"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_plotting_helpers_refuse_bad_input():
    fig, ax = plotting.subplots()
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_grouped_bars(ax, {})
    with pytest.raises(ValueError, match="same length"):
        plotting.plot_grouped_bars(ax, {"a": [1, 2], "b": [1]})
    plotting.mark_value(ax, 0.3, {"reinforce": [0.1, 0.2]}, label="now")
    (points,) = [line for line in ax.get_lines() if line.get_marker() == "o"]
    np.testing.assert_allclose(points.get_ydata(), [0.1, 0.2])
    assert points.get_color() == plotting.COLORS["reinforce"]


# --- the explorers -----------------------------------------------------------------


def test_temperature_explorer_redraws_on_slider_change():
    ipywidgets = pytest.importorskip("ipywidgets")
    box = widgets.temperature_explorer(n_points=20, n_trials=3, sweep=(1.0,))
    assert isinstance(box, ipywidgets.VBox)
    assert set(box.controls) == {"tau", "n_points", "seed"}
    assert box.n_draws == 1 and isinstance(box.figure, Figure)
    box.controls["tau"].value = 0.2  # what moving the slider does
    assert box.n_draws == 2
    assert box.state()["tau"] == pytest.approx(0.2)
    assert "0.2" in box.figure.axes[0].get_title()
    assert _vertical_lines_at(box.figure.axes[2], box.controls["tau"].value)
    box.controls["n_points"].value = 100
    assert box.n_draws == 3 and len(_scatter_offsets(box.figure.axes[0])) == 100


def test_surrogate_explorer_redraws_on_change():
    ipywidgets = pytest.importorskip("ipywidgets")
    box = widgets.surrogate_explorer(f0=0.5)
    assert isinstance(box, ipywidgets.VBox)
    box.controls["f0"].value = -2.0
    assert box.n_draws == 2 and "f = -2.00" in box.figure.axes[1].get_title()
    box.controls["backward"].value = ("clipped",)
    assert box.state()["backward"] == ("clipped",)
    assert "identity" not in box.figure.axes[1].get_title()
    box.controls["signed"].value = True
    assert "sign(f)" in box.figure.axes[0].get_title()


def test_estimator_explorer_redraws_and_explains_invalid_settings():
    ipywidgets = pytest.importorskip("ipywidgets")
    box = widgets.estimator_explorer(n_trials=20, bins=5)
    assert isinstance(box, ipywidgets.VBox)
    assert box.n_draws == 1 and box.message.value == ""
    # leave-one-out with one sample: explained, not raised
    box.controls["baseline"].value = "rloo"
    assert box.figure is None and "n_samples >= 2" in box.message.value
    box.controls["n_samples"].value = 3
    assert box.n_draws == 2 and box.message.value == ""
    assert "baseline rloo" in box.figure.axes[0].get_title()
    # an estimator without a baseline greys the menu out and ignores it
    box.controls["estimator"].value = "gumbel_softmax"
    assert box.controls["baseline"].disabled and not box.controls["tau"].disabled
    assert box.state()["baseline"] is None
    assert box.figure.axes[0].get_title().startswith("gumbel_softmax, n = 3")


# --- import without ipywidgets -----------------------------------------------------


def test_imports_and_draws_without_ipywidgets(monkeypatch):
    try:
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, "ipywidgets", None)  # "import ipywidgets" fails
            module = importlib.reload(widgets)
            assert isinstance(module.draw_surrogate(), Figure)
            with pytest.raises(ImportError, match="surrogate_figure"):
                module.surrogate_explorer()
    finally:
        importlib.reload(widgets)


def test_no_module_level_ipywidgets_import():
    lines = Path(widgets.__file__).read_text().splitlines()
    assert not [line for line in lines if line.startswith(("import ipywidgets", "from ipywidgets"))]


def test_matplotlib_backend_untouched():
    """Importing stelib.widgets does not switch the backend (notebooks keep inline)."""
    before = matplotlib.get_backend()
    importlib.reload(widgets)
    assert matplotlib.get_backend() == before


# --- the chapters store figures, never widget state --------------------------------

WIDGET_MIMES = (
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)


def test_notebooks_store_no_widget_state():
    """A stored widget makes myst-nb load RequireJS and the widget manager from a CDN:
    the chapters show the static fallback figures instead (see stelib.widgets)."""
    offenders = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")) + [ROOT / "book" / "status.ipynb"]:
        if not path.exists():
            continue
        notebook = json.loads(path.read_text())
        if notebook.get("metadata", {}).get("widgets"):
            offenders.append(f"{path.name}: metadata.widgets")
        for index, cell in enumerate(notebook.get("cells", [])):
            for output in cell.get("outputs", []):
                if any(mime in output.get("data", {}) for mime in WIDGET_MIMES):
                    offenders.append(f"{path.name}: cell {index} displays a widget")
    assert not offenders, (
        "stored ipywidgets (the book would load scripts from a CDN); display the static "
        f"fallback figure instead: {offenders}"
    )
