"""One figure style for the whole book: every chapter's figures come from here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.0, 3.6),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "font.size": 10,
}

COLORS = {
    "exact": "#222222",
    "reinforce": "#1f77b4",
    "straight_through": "#d62728",
    "gumbel_softmax": "#2ca02c",
    "st_gumbel_softmax": "#9467bd",
    "identity": "#d62728",
    "clipped": "#ff7f0e",
    "sigmoid": "#17becf",
    "none": "#7f7f7f",
    "relaxed": "#2ca02c",
}
"""A fixed colour per estimator or surrogate, so that a name looks the same in every chapter."""


def set_style() -> None:
    """Apply the book's matplotlib style (chapter 1)."""
    plt.rcParams.update(STYLE)


def color(name: str, index: int = 0) -> str:
    """The book's colour for ``name``, or the ``index``-th colour of the cycle."""
    return COLORS.get(name, f"C{index % 10}")


def subplots(ncols: int = 1, nrows: int = 1, *, width: float = 3.4, height: float = 3.0, **kwargs):
    """A figure of ``nrows x ncols`` panels, each ``width x height`` inches, in the book style."""
    set_style()
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs
    )
    fig.set_layout_engine("constrained")
    return fig, (axes[0, 0] if nrows == ncols == 1 else axes.ravel())


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def plot_functions(
    ax, x, curves: Mapping[str, object], *, xlabel: str = "", ylabel: str = "", title: str = ""
):
    """Plot several named curves over the same ``x`` (chapter 1)."""
    for i, (name, y) in enumerate(curves.items()):
        ax.plot(_numpy(x), _numpy(y), label=name, color=color(name, i))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if len(curves) > 1:
        ax.legend()
    return ax


def plot_curves(
    ax,
    curves: Mapping[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    xlabel: str = "step",
    ylabel: str = "",
    title: str = "",
    logy: bool = False,
):
    """Learning curves (or any series) by name, in the book's colours (chapter 2)."""
    for i, (name, values) in enumerate(curves.items()):
        values = _numpy(values)
        xs = np.arange(1, len(values) + 1) if x is None else _numpy(x)
        ax.plot(xs, values, label=name, color=color(name, i))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax


def plot_estimates(
    ax, exact: float, estimates: Mapping[str, tuple[float, float]], *, title: str = ""
):
    """Bars of each estimator's mean gradient with +-2 standard errors, and the exact
    value as a line. ``estimates`` maps a name to ``(mean, std_error)`` (chapter 4)."""
    names = list(estimates)
    means = [estimates[n][0] for n in names]
    errors = [2 * estimates[n][1] for n in names]
    ax.bar(names, means, yerr=errors, capsize=4, color=[color(n, i) for i, n in enumerate(names)])
    ax.axhline(exact, color=COLORS["exact"], linestyle="--", label=f"exact = {exact:.4g}")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set(ylabel="gradient", title=title)
    ax.tick_params(axis="x", labelrotation=20)
    ax.legend()
    return ax


def plot_frequencies(ax, counts, probs, *, labels: Sequence[str] | None = None, title: str = ""):
    """Empirical frequencies of a categorical sample against the true probabilities (chapter 3)."""
    counts, probs = _numpy(counts).astype(float), _numpy(probs)
    k = np.arange(len(probs))
    ax.bar(k - 0.2, counts / counts.sum(), width=0.4, label="sampled", color="C0")
    ax.bar(k + 0.2, probs, width=0.4, label="softmax(logits)", color=COLORS["exact"])
    ax.set_xticks(k, labels if labels is not None else [str(i) for i in k])
    ax.set(ylabel="probability", title=title)
    ax.legend()
    return ax


def plot_gradient_histogram(ax, samples, exact: float, *, name: str = "estimate", bins: int = 40):
    """Histogram of single gradient estimates with their mean and the exact gradient (chapter 4)."""
    samples = _numpy(samples).ravel()
    ax.hist(samples, bins=bins, color=color(name), alpha=0.7, label=name)
    ax.axvline(
        samples.mean(), color=color(name), linestyle=":", label=f"mean = {samples.mean():.4g}"
    )
    ax.axvline(exact, color=COLORS["exact"], linestyle="--", label=f"exact = {exact:.4g}")
    ax.set(xlabel="gradient estimate", ylabel="count")
    ax.legend()
    return ax
