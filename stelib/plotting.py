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
    "reinforce rloo": "#6baed6",
    "arm": "#8c564b",
    "disarm": "#e377c2",
    "relax": "#bcbd22",
    "gumbel_rao": "#e6550d",
    "reinmax": "#393b79",
}
"""A fixed colour per estimator or surrogate, so that a name looks the same in every chapter."""


def set_style() -> None:
    """Apply the book's matplotlib style (chapter 1)."""
    plt.rcParams.update(STYLE)


def color(name: str, index: int = 0) -> str:
    """The book's colour for ``name``, looked up by the whole name, then by its first
    word (``"relax (trained c)"`` is coloured as ``relax``); otherwise the ``index``-th
    colour of the cycle."""
    if name in COLORS:
        return COLORS[name]
    return COLORS.get(name.replace("(", " ").split(" ")[0].rstrip(","), f"C{index % 10}")


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
    reference: Mapping[str, float] | None = None,
    legend_outside: bool = False,
):
    """Learning curves (or any series) by name, in the book's colours (chapter 2).

    ``curves[name][t]`` is the value at step ``x[t]`` (default 1, ..., T). Curves whose
    name starts with ``"exact"`` (computed without an estimator) are drawn in black, each
    with its own dash. ``reference`` maps a label to a constant drawn as a dotted
    horizontal line (an optimum, say); ``legend_outside`` puts the legend to the right.
    """
    dashes = ["--", ":", "-."]
    n_exact = 0
    for i, (name, values) in enumerate(curves.items()):
        values = _numpy(values)
        xs = np.arange(1, len(values) + 1) if x is None else _numpy(x)
        if name.startswith("exact"):
            style = {"color": COLORS["exact"], "linestyle": dashes[n_exact % len(dashes)]}
            n_exact += 1
        else:
            style = {"color": color(name, i)}
        ax.plot(xs, values, label=name, **style)
    for label, value in (reference or {}).items():
        ax.axhline(value, color="grey", linestyle=":", linewidth=1.0, label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    if legend_outside:
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    else:
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


def plot_simplex(
    ax,
    points,
    *,
    labels: Sequence[str] = ("1", "2", "3"),
    title: str = "",
    size: float = 6.0,
):
    r"""Points of the probability 2-simplex (three categories), coloured by their argmax.

    A point :math:`y = (y_1, y_2, y_3)` with :math:`y_k \ge 0`, :math:`\sum_k y_k = 1`
    is drawn at :math:`y_1 v_1 + y_2 v_2 + y_3 v_3`, where :math:`v_k` are the corners
    of an equilateral triangle; the corners are the one-hot vectors. ``points`` has
    shape ``(n, 3)``. Used for Gumbel-softmax samples at several temperatures.
    Introduced in chapter 3.
    """
    y = _numpy(points).astype(float)
    if y.ndim != 2 or y.shape[1] != 3:
        raise ValueError(f"points must have shape (n, 3), got {y.shape}")
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    xy = y @ corners
    ax.plot(*np.vstack([corners, corners[:1]]).T, color=COLORS["exact"], linewidth=0.8)
    winner = y.argmax(1)
    for k in range(3):
        mask = winner == k
        ax.scatter(xy[mask, 0], xy[mask, 1], s=size, color=f"C{k}", alpha=0.6, linewidths=0)
    offsets = np.array([[-0.06, -0.06], [0.06, -0.06], [0.0, 0.05]])
    for k in range(3):
        x0, y0 = corners[k] + offsets[k]
        ax.text(x0, y0, labels[k], ha="center", va="center", color=f"C{k}")
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.12, 0.98)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title)
    return ax


def plot_sample_histograms(
    axes,
    samples: Mapping[str, object],
    *,
    bins: int = 30,
    value_range: tuple[float, float] = (0.0, 1.0),
    xlabel: str = "",
):
    r"""One normalised histogram per named sample, each in its own panel of ``axes``.

    Each panel shows the empirical density of the values in ``samples[name]``
    (bars of height count / (n * bin width) over ``value_range``), titled ``name``.
    Used for relaxed Bernoulli (binary Concrete) samples at several temperatures.
    Introduced in chapter 3.
    """
    axes = list(np.ravel(axes))
    if len(axes) < len(samples):
        raise ValueError(f"need {len(samples)} axes, got {len(axes)}")
    for i, (name, values) in enumerate(samples.items()):
        ax = axes[i]
        data = _numpy(values).ravel()
        ax.hist(data, bins=bins, range=value_range, density=True, color=f"C{i % 10}")
        ax.set(xlabel=xlabel, title=name)
    axes[0].set_ylabel("density")
    return axes


def plot_bias_variance(
    ax,
    x: Sequence[float],
    bias2: Mapping[str, Sequence[float]],
    variance: Mapping[str, Sequence[float]],
    *,
    noise_floor: Mapping[str, Sequence[float]] | None = None,
    xlabel: str = "temperature $\\tau$",
    title: str = "",
    logx: bool = True,
):
    r"""Squared bias :math:`\lVert \bar g - g \rVert^2` (solid) and total variance
    :math:`\sum_i \mathrm{Var}[\hat g_i]` (dashed) of gradient estimators against a
    parameter ``x`` such as the temperature, on a log scale, one colour per estimator
    (the book's colour for its name). ``noise_floor`` (dotted), if given, is the part of
    the measured squared bias that Monte Carlo noise alone produces,
    :math:`\sum_i \mathrm{Var}[\hat g_i] / T` for :math:`T` trials: a measured bias
    at or below it is not distinguishable from zero. Introduced in chapter 3.
    """
    xs = _numpy(x)
    for i, name in enumerate(bias2):
        c = color(name, i)
        ax.plot(xs, _numpy(bias2[name]), color=c, marker="o", label=f"{name}: bias$^2$")
        if name in variance:
            ax.plot(
                xs,
                _numpy(variance[name]),
                color=c,
                marker="s",
                linestyle="--",
                label=f"{name}: variance",
            )
        if noise_floor is not None and name in noise_floor:
            ax.plot(xs, _numpy(noise_floor[name]), color=c, linestyle=":", linewidth=1.0)
    ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, title=title)
    ax.legend()
    return ax


def plot_digit_images(axes, images, titles: Sequence[str] | None = None, *, side: int = 8):
    r"""Show flattened square images, one per panel, in grey (dark = ink).

    Row :math:`i` of ``images`` (shape ``(n, side * side)``, values in :math:`[0, 1]`,
    for example scikit-learn's 8x8 digits) is reshaped to ``side x side`` and drawn in
    ``axes[i]`` with the title ``titles[i]``. Used for the digits-addition task
    (Manhaeve et al. 2018). Introduced in chapter 1.
    """
    axes = list(np.ravel(axes))
    data = _numpy(images).reshape(-1, side, side)
    if len(axes) < len(data):
        raise ValueError(f"need {len(data)} axes, got {len(axes)}")
    for i, image in enumerate(data):
        axes[i].imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0)
        axes[i].set_xticks([])
        axes[i].set_yticks([])
        axes[i].grid(False)
        for spine in axes[i].spines.values():
            spine.set_visible(True)
            spine.set_color("0.7")
        if titles is not None:
            axes[i].set_title(titles[i])
    return axes


def plot_step_and_derivative(axes, f, z, dz_df, *, label: str = "autograd"):
    r"""The step :math:`z = \mathrm{Threshold}(f) = \mathbf{1}[f > 0]` and its derivative.

    Left panel: ``z`` against ``f``, with the value at the jump marked (filled dot at
    :math:`(0, 0)`, open dot at :math:`(0, 1)`). Right panel: ``dz_df`` against ``f``,
    the derivative as computed (for the threshold autograd returns :math:`0` at every
    point), and at :math:`f = 0` an upward arrow for the Dirac delta: in the sense of
    distributions :math:`\mathrm{d}z/\mathrm{d}f = \delta(f)`, zero almost everywhere
    and undefined (infinite) at the jump. ``axes`` holds two axes. Introduced in
    chapter 1.
    """
    left, right = list(np.ravel(axes))[:2]
    f, z, dz_df = _numpy(f), _numpy(z), _numpy(dz_df)
    for mask in (f <= 0, f > 0):
        left.plot(f[mask], z[mask], color=COLORS["exact"])
    left.plot([0.0], [0.0], "o", color=COLORS["exact"], markersize=5)
    left.plot([0.0], [1.0], "o", markerfacecolor="white", color=COLORS["exact"], markersize=5)
    left.set(xlabel="f", ylabel="z = Threshold(f)", title="forward: the step", ylim=(-0.15, 1.3))
    right.plot(f, dz_df, color=COLORS["none"], label=f"{label}: dz/df")
    right.annotate(
        "", xy=(0.0, 1.0), xytext=(0.0, 0.0), arrowprops={"arrowstyle": "-|>", "color": "C3"}
    )
    right.text(0.1, 0.95, "undefined\n(infinite)\nat f = 0", color="C3", va="top")
    right.set(xlabel="f", ylabel="dz/df", title="backward: its derivative", ylim=(-0.15, 1.3))
    right.legend(loc="upper left")
    return left, right


_EXTRA_COLORS = ("#8c564b", "#e377c2", "#bcbd22", "#1f77b4", "#9467bd")
_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))


def plot_surrogates(
    axes,
    x,
    forwards: Mapping[str, object],
    derivatives: Mapping[str, object],
    *,
    hard=None,
):
    r"""Straight-through surrogates: the "pretend" forward function and its derivative.

    For each name, the left panel (``axes[0]``) draws :math:`s(f)`, the function the
    backward pass pretends was applied (identity :math:`f`, hardtanh
    :math:`\mathrm{clamp}(f, -1, 1)`, :math:`\sigma(f)`, ReLU, ...), with the hard
    threshold ``hard`` (:math:`\mathbf{1}[f > 0]`, black, dashed) for reference; the
    right panel (``axes[1]``) draws the surrogate derivative :math:`s'(f)` that replaces
    :math:`\partial z / \partial f = 0` in the backward pass. Known names (identity,
    clipped, sigmoid) get the book's colour, others a colour of their own; line styles
    differ so that overlapping derivatives stay visible. Introduced in chapter 2.
    """
    left, right = list(np.ravel(axes))[:2]
    xs = _numpy(x)
    if hard is not None:
        left.plot(xs, _numpy(hard), color=COLORS["exact"], linestyle="--", label="threshold")
    extra = 0
    for i, name in enumerate(forwards):
        if name in COLORS:
            c = COLORS[name]
        else:
            c = _EXTRA_COLORS[extra % len(_EXTRA_COLORS)]
            extra += 1
        style = _LINESTYLES[i % len(_LINESTYLES)]
        left.plot(xs, _numpy(forwards[name]), color=c, linestyle=style, label=name)
        if name in derivatives:
            right.plot(xs, _numpy(derivatives[name]), color=c, linestyle=style, label=name)
    left.set(xlabel="f", ylabel="s(f)", title="pretend forward s(f)", ylim=(-1.6, 2.6))
    right.set(xlabel="f", ylabel="s'(f)", title="surrogate derivative s'(f)", ylim=(-0.1, 1.2))
    left.legend(loc="upper left")
    right.legend(loc="upper right")
    return left, right


def plot_threshold_lines(
    ax,
    x,
    y,
    weight,
    bias,
    *,
    reference: tuple[object, object] | None = None,
    limits: tuple[float, float] = (-1.0, 1.0),
    title: str = "",
):
    r"""Two-dimensional points coloured by label, with the lines where threshold units switch.

    Unit :math:`j` of a linear score :math:`f_j(x) = w_j^\top x + b_j` (``weight`` of
    shape ``(d, 2)``, ``bias`` of shape ``(d,)``) switches where :math:`f_j(x) = 0`; each
    such line is drawn in colour ``C{j}``. ``reference`` = ``(weight, bias)`` of the
    true boundaries, drawn black and dashed. ``x`` has shape ``(n, 2)``, ``y`` holds 0
    or 1. Used for the lecture's threshold network
    :math:`y = g_\theta(\mathrm{Threshold}(f_\phi(x)))`. Introduced in chapter 2.
    """
    pts, labels = _numpy(x), _numpy(y)
    for value, marker_color in ((0, "0.75"), (1, "0.45")):
        mask = labels == value
        ax.scatter(pts[mask, 0], pts[mask, 1], s=4, color=marker_color, linewidths=0)
    grid = np.linspace(limits[0], limits[1], 200)

    def draw(w, b, **style):
        w1, w2 = float(w[0]), float(w[1])
        if abs(w2) >= abs(w1) and w2 != 0:
            ax.plot(grid, -(float(b) + w1 * grid) / w2, **style)
        elif w1 != 0:
            ax.plot(-(float(b) + w2 * grid) / w1, grid, **style)

    weight, bias = _numpy(weight), _numpy(bias)
    for j in range(len(bias)):
        draw(weight[j], bias[j], color=f"C{j % 10}", linewidth=1.5)
    if reference is not None:
        ref_w, ref_b = _numpy(reference[0]), _numpy(reference[1])
        for j in range(len(ref_b)):
            draw(ref_w[j], ref_b[j], color=COLORS["exact"], linestyle="--", linewidth=1.2)
    ax.set_xlim(*limits)
    ax.set_ylim(*limits)
    ax.set_aspect("equal")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    ax.grid(False)
    return ax


def plot_runs(
    ax,
    runs: Mapping[str, object],
    *,
    x: Sequence[float] | None = None,
    xlabel: str = "step",
    ylabel: str = "",
    title: str = "",
    reference: Mapping[str, float] | None = None,
):
    r"""Independent runs by name: every run as a thin line, their mean as a thick one.

    ``runs[name]`` has shape ``(R, T)``: :math:`R` runs (different seeds) of :math:`T`
    values recorded at the steps ``x`` (default :math:`1, \dots, T`); the thick line is
    :math:`\frac{1}{R} \sum_r v_{r,t}`. ``reference`` maps a label to a constant drawn as a
    dashed horizontal line, such as an optimum. Used for parameters over training steps
    (the wrong fixed point of the STE, REINFORCE's vanishing signal). Introduced in
    chapter 5.
    """
    for i, (name, values) in enumerate(runs.items()):
        v = np.atleast_2d(_numpy(values))
        xs = np.arange(1, v.shape[1] + 1) if x is None else _numpy(x)
        c = color(name, i)
        ax.plot(xs, v.T, color=c, alpha=0.25, linewidth=0.8)
        ax.plot(xs, v.mean(0), color=c, label=f"{name} (mean of {v.shape[0]})")
    for j, (label, value) in enumerate((reference or {}).items()):
        style = ("--", ":", "-.")[j % 3]
        ax.axhline(value, color=COLORS["exact"], linestyle=style, linewidth=1.0, label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    return ax


def plot_bias_std_map(
    ax,
    points: Mapping[str, tuple[float, float]],
    *,
    bias_error: Mapping[str, float] | None = None,
    title: str = "",
    logx: bool = False,
    logy: bool = False,
):
    r"""A bias-variance map: one labelled point per estimator at (standard deviation, bias).

    ``points[name] = (std, bias)`` with :math:`\mathrm{std} = \sqrt{\sum_i
    \mathrm{Var}[\hat g_i]}` (the spread of a single estimate) and :math:`\mathrm{bias} =
    \lVert \mathbb{E}[\hat g] - g \rVert` (its distance from the exact gradient).
    ``bias_error[name]``, if given, is drawn as a vertical error bar (for example two
    standard errors of the measured bias). The colour is the book's colour of the name's
    first word (``"gumbel_softmax tau=0.5"`` is coloured as ``gumbel_softmax``). The ideal
    estimator sits at the origin. Introduced in chapter 5.
    """
    for i, (name, (std, bias)) in enumerate(points.items()):
        c = color(name.split(" ")[0].rstrip(","), i)
        err = None if bias_error is None or name not in bias_error else bias_error[name]
        ax.errorbar([std], [bias], yerr=None if err is None else [err], fmt="o", color=c, capsize=3)
        ax.annotate(
            name, (std, bias), textcoords="offset points", xytext=(5, 4), fontsize=8, color=c
        )
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel="standard deviation of one estimate", ylabel="|bias|", title=title)
    return ax


def plot_variance_scaling(
    ax,
    n_samples: Sequence[int],
    variances: Mapping[str, Sequence[float]],
    *,
    reference: Mapping[str, float] | None = None,
    ylabel: str = "variance of one coordinate",
    title: str = "",
):
    r"""Measured variance of an estimator against the number of samples :math:`n`, log-log.

    ``variances[name][k]`` is the measured variance at ``n_samples[k]`` (markers and a
    line, the book's colour for ``name``). ``reference[name] = V_1``, if given, is the exact
    one-sample variance, drawn as the dashed line :math:`V_1 / n`: an average of :math:`n`
    independent, identically distributed estimates has variance
    :math:`\mathrm{Var}[\frac{1}{n}\sum_i \hat g_i] = V_1 / n`, a straight line of slope
    :math:`-1` on log-log axes. Introduced in chapter 4.
    """
    ns = np.asarray(_numpy(n_samples), dtype=float)
    for i, (name, values) in enumerate(variances.items()):
        c = color(name, i)
        ax.plot(ns, _numpy(values), color=c, marker="o", label=f"{name} (measured)")
        if reference is not None and name in reference:
            ax.plot(
                ns,
                float(reference[name]) / ns,
                color=c,
                linestyle="--",
                linewidth=1.0,
                label=f"{name}: exact $V_1/n$",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="number of samples $n$", ylabel=ylabel, title=title)
    ax.legend()
    return ax


# --- stelib.widgets helpers (chapters 2-4 explorers) ---------------------------------


def plot_grouped_bars(
    ax,
    bars: Mapping[str, Sequence[float]],
    *,
    labels: Sequence[str] | None = None,
    ylabel: str = "",
    title: str = "",
):
    r"""Grouped bars: for each category :math:`k`, one bar per named series, side by side.

    ``bars[name][k]`` is the height of the series ``name`` at category :math:`k`; every
    series has the same length :math:`K`. Each series has the book's colour for its name
    (or the next colour of the cycle). Used by the temperature explorer to compare, per
    category, the frequency of :math:`\arg\max_k y_k`, the mean relaxed sample
    :math:`\mathbb{E}[y_k]` and :math:`\pi_k = \mathrm{softmax}(\ell)_k`. Introduced in
    chapter 3.
    """
    series = {name: _numpy(values).astype(float).ravel() for name, values in bars.items()}
    if not series:
        raise ValueError("bars must hold at least one series")
    sizes = {len(v) for v in series.values()}
    if len(sizes) != 1:
        raise ValueError(
            f"every series in bars must have the same length, got lengths {sorted(sizes)}"
        )
    k = np.arange(sizes.pop())
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        offset = (i - (len(series) - 1) / 2) * width
        ax.bar(k + offset, values, width=width, label=name, color=color(name, i))
    ax.set_xticks(k, list(labels) if labels is not None else [str(i + 1) for i in k])
    ax.set(ylabel=ylabel, title=title)
    ax.legend()
    return ax


def mark_value(
    ax,
    x: float,
    values: Mapping[str, float | Sequence[float]] | None = None,
    *,
    label: str | None = None,
):
    r"""Mark the current setting of a slider on a plot: a dotted vertical line at ``x``.

    For each name in ``values``, the point(s) :math:`(x, v)` for every :math:`v` in
    ``values[name]`` (a number or a sequence) are drawn as large markers in the book's
    colour for ``name``: where the current setting sits on curves drawn over a grid.
    ``label`` names the line in the legend. Used by the explorers of
    ``stelib.widgets``. Introduced in chapter 2.
    """
    ax.axvline(float(x), color=COLORS["exact"], linestyle=":", linewidth=1.2, label=label)
    for i, (name, value) in enumerate((values or {}).items()):
        ys = np.atleast_1d(_numpy(value)).astype(float).ravel()
        ax.plot(
            np.full(ys.shape, float(x)),
            ys,
            linestyle="none",
            marker="o",
            markersize=7,
            markeredgecolor="white",
            color=color(name, i),
        )
    if label is not None:
        ax.legend()
    return ax


# --- Chapter 6: every estimator side by side -----------------------------------------


def plot_variance_cost(
    ax,
    points: Mapping[str, tuple[float, float]],
    *,
    reference: str | None = "reinforce",
    floor: float = 1e-8,
    xlabel: str = "time per gradient / time of reinforce",
    ylabel: str = "variance of one gradient",
    title: str = "",
):
    r"""Variance against cost, log-log: one labelled point per estimator.

    ``points[name] = (cost, variance)``: for example the time of one gradient relative to
    single-sample REINFORCE, and the total variance :math:`\sum_i \mathrm{Var}[\hat g_i]`
    of one gradient. Averaging :math:`n` independent estimates multiplies the cost by
    :math:`n` and divides the variance by :math:`n`, so an estimator's
    :math:`\text{cost} \times \text{variance}` is what it pays for a given precision.
    When ``reference`` names a point, the line :math:`\text{cost} \times \text{variance}
    = \text{const}` through it (slope :math:`-1`) is drawn dashed: points below it are
    cheaper than the reference for the same variance (bias is not shown; an estimator
    may sit low here and still be biased). Variances at or below ``floor`` (for example
    an exact, zero-variance estimate) are drawn at ``floor`` with a downward triangle.
    Colours follow :func:`color`. Introduced in chapter 6.
    """
    if not points:
        raise ValueError("points must hold at least one estimator")
    costs = np.array([float(c) for c, _ in points.values()])
    if not np.all(costs > 0):
        raise ValueError("every cost in points must be positive")
    for i, (name, (cost, variance)) in enumerate(points.items()):
        c = color(name, i)
        low = not variance > floor
        y = floor if low else float(variance)
        ax.plot([float(cost)], [y], marker="v" if low else "o", color=c, linestyle="none")
        text = f"{name} (<= {floor:g})" if low else name
        ax.annotate(text, (float(cost), y), textcoords="offset points", xytext=(5, 3),
                    fontsize=8, color=c)  # fmt: skip
    if reference is not None and reference in points:
        ref_cost, ref_var = (float(v) for v in points[reference])
        if ref_var > floor:
            xs = np.geomspace(costs.min() / 1.5, costs.max() * 1.5, 50)
            ax.plot(xs, ref_cost * ref_var / xs, color=COLORS["exact"], linestyle="--",
                    linewidth=1.0, label=f"same cost x variance as {reference}")  # fmt: skip
            ax.legend(loc="lower left", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return ax
