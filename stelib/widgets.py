r"""Interactive explorers for the chapters, each with a static fallback figure.

Every explorer comes in three layers:

1. a pure callback ``draw_<name>(state) -> matplotlib.figure.Figure``: ``state`` is a
   dict of settings (missing keys take the defaults in ``<NAME>_DEFAULTS``); the same
   state always gives the same figure (every random draw is seeded from
   ``state["seed"]``), so the callbacks are tested without a browser or a kernel;
2. a static fallback ``<name>_figure(...) -> Figure`` that shows the same idea at a few
   fixed settings: it is what the book stores and displays, so that a reader without
   a kernel sees it too;
3. a thin ipywidgets wrapper ``<name>_explorer(**state) -> ipywidgets.VBox``: one
   control per setting; moving a control calls the callback and replaces the figure.

ipywidgets is imported only inside the wrappers: this module imports, and the
callbacks and fallback figures work, without it.

Why the chapters store the fallback figure and never a live widget: a notebook that
stores widget state makes myst-nb add RequireJS and the widget manager from a CDN to
its page, which breaks offline reading. So a chapter cell displays the fallback figure
and names the one line that opens the explorer in a live kernel (Jupyter or Colab).

The box returned by an explorer carries, besides its children:

``box.controls``
    dict of the control widgets by setting name;
``box.state()``
    the current settings, as passed to the callback;
``box.redraw()``
    draw the current settings now (every control calls it when its value changes);
``box.figure``
    the last figure drawn (closed in pyplot, still inspectable), ``None`` when the
    current settings are invalid;
``box.n_draws``
    how many figures have been drawn;
``box.message``
    an ``HTML`` widget that shows why the current settings are invalid (empty otherwise);
``box.output``
    the ``Output`` widget that displays the figure.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from . import diagnostics, estimators, gumbel, plotting, problems
from .ste import SURROGATES, ste_sign, ste_threshold

__all__ = [
    "TEMPERATURE_DEFAULTS",
    "TEMPERATURE_ESTIMATORS",
    "SURROGATE_DEFAULTS",
    "ESTIMATOR_DEFAULTS",
    "ESTIMATOR_FIGURE_SETTINGS",
    "draw_temperature",
    "temperature_figure",
    "temperature_explorer",
    "draw_surrogate",
    "surrogate_figure",
    "surrogate_explorer",
    "draw_estimator",
    "estimator_figure",
    "estimator_explorer",
]

# --- argument checks ---------------------------------------------------------------


def _resolve(state, defaults: Mapping[str, object], what: str) -> dict:
    """``defaults`` updated with ``state``; unknown keys are refused by name."""
    if state is None:
        state = {}
    if not isinstance(state, Mapping):
        raise TypeError(
            f"state must be a dict of {what} settings (keys {sorted(defaults)}), "
            f"got {type(state).__name__}"
        )
    unknown = sorted(set(state) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown {what} setting(s) {unknown}; the allowed settings are {sorted(defaults)}"
        )
    return {**defaults, **state}


def _number(value, name: str, *, low: float | None = None, high: float | None = None) -> float:
    """A finite real number in the open interval ``(low, high)`` (bounds optional)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if (low is not None and value <= low) or (high is not None and value >= high):
        bounds = f"between {low:g} and {high:g}" if low is not None and high is not None else ""
        if not bounds:
            bounds = f"greater than {low:g}" if low is not None else f"less than {high:g}"
        raise ValueError(f"{name} must be {bounds} (exclusive), got {value:g}")
    return value


def _count(value, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {value}")
    return value


def _positive_numbers(values, name: str, *, maximum_length: int) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of positive numbers, got {values!r}")
    if not 1 <= len(values) <= maximum_length:
        raise ValueError(f"{name} must hold 1 to {maximum_length} numbers, got {len(values)}")
    return tuple(_number(v, f"each entry of {name}", low=0.0) for v in values)


def _seed(value) -> int:
    return _count(value, "seed", minimum=0)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- the explorer wrapper ----------------------------------------------------------


def _ipywidgets(explorer: str, fallback: str):
    """The ipywidgets module, imported now (lazily), or a clear ImportError."""
    try:
        import ipywidgets
    except ImportError as error:
        raise ImportError(
            f"{explorer}() needs ipywidgets (pip install ipywidgets) and a live Jupyter "
            f"kernel; without them, {fallback}() draws the same idea as a static figure"
        ) from error
    return ipywidgets


def _explorer(draw: Callable[[dict], Figure], controls: dict, state: Callable[[], dict]):
    """A VBox of ``controls`` above the figure ``draw(state())``, redrawn on every change."""
    import ipywidgets
    from IPython.display import display

    output = ipywidgets.Output()
    message = ipywidgets.HTML(value="")
    box = ipywidgets.VBox(
        [
            ipywidgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}),
            message,
            output,
        ]
    )

    def redraw(change=None) -> None:
        try:
            figure = draw(state())
        except (TypeError, ValueError) as error:
            box.figure = None
            message.value = f"<b>Invalid setting:</b> {error}"
            output.clear_output()
            return
        message.value = ""
        with output:
            output.clear_output(wait=True)
            display(figure)
        plt.close(figure)
        box.figure = figure
        box.n_draws += 1

    box.controls = controls
    box.state = state
    box.redraw = redraw
    box.figure = None
    box.n_draws = 0
    box.message = message
    box.output = output
    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return box


# --- chapter 3: the Gumbel-softmax temperature -------------------------------------

TEMPERATURE_DEFAULTS: dict[str, object] = {
    "tau": 1.0,
    "probs": (0.6, 0.3, 0.1),
    "target": 1.4,
    "n_points": 500,
    "n_trials": 200,
    "seed": 0,
    "sweep": (0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
}
"""Settings of :func:`draw_temperature`: the temperature ``tau``; the probabilities
:math:`\\pi = \\mathrm{softmax}(\\ell)` of the three categories; the ``target`` :math:`t`
of the loss :math:`f(z) = (\\sum_k k z_k - t)^2`; the number of samples drawn on the
simplex; the number of gradient estimates per temperature; the seed; and the
temperatures over which bias and variance are drawn as curves."""

TEMPERATURE_ESTIMATORS = ("gumbel_softmax", "st_gumbel_softmax")
"""The estimators whose bias and variance the temperature explorer draws."""

SYMBOLS = ("0", "1", "2")  # category k is the symbol k of the loss (sum_k k z_k - t)^2


def _check_temperature(state) -> dict:
    s = _resolve(state, TEMPERATURE_DEFAULTS, "temperature")
    s["tau"] = _number(s["tau"], "tau", low=0.0)
    probs = _positive_numbers(s["probs"], "probs", maximum_length=3)
    if len(probs) != 3:
        raise ValueError(f"probs must hold 3 probabilities (one per category), got {len(probs)}")
    total = sum(probs)
    s["probs"] = tuple(p / total for p in probs)
    s["target"] = _number(s["target"], "target")
    s["n_points"] = _count(s["n_points"], "n_points", maximum=100_000)
    s["n_trials"] = _count(s["n_trials"], "n_trials", minimum=2)
    s["seed"] = _seed(s["seed"])
    s["sweep"] = tuple(sorted(set(_positive_numbers(s["sweep"], "sweep", maximum_length=12))))
    return s


def _temperature_problem(probs: tuple[float, ...], target: float) -> problems.Objective:
    logits = [math.log(p) for p in probs]
    return problems.categorical_quadratic(target=target, n_categories=3, logits=logits)


@functools.lru_cache(maxsize=512)
def _temperature_stats(
    probs: tuple[float, ...], target: float, tau: float, n_trials: int, seed: int
) -> tuple[tuple[float, float], ...]:
    """``(bias^2, total variance)`` of each of :data:`TEMPERATURE_ESTIMATORS` at ``tau``.

    Every temperature reuses the same seed (common random numbers), so the curves over
    the temperature are smooth and a temperature on the sweep gives the same numbers."""
    problem = _temperature_problem(probs, target)
    out = []
    for name in TEMPERATURE_ESTIMATORS:
        stats = diagnostics.gradient_stats(
            estimators.ESTIMATORS[name],
            problem.f,
            problem.logits,
            n_trials=n_trials,
            generator=_generator(seed + 1),
            dist="categorical",
            tau=tau,
        )
        out.append((float((stats.bias**2).sum()), stats.total_variance))
    return tuple(out)


def _sweep(s: dict, taus: Sequence[float]) -> tuple[dict, dict]:
    bias2 = {name: [] for name in TEMPERATURE_ESTIMATORS}
    variance = {name: [] for name in TEMPERATURE_ESTIMATORS}
    for tau in taus:
        stats = _temperature_stats(s["probs"], s["target"], float(tau), s["n_trials"], s["seed"])
        for name, (b2, var) in zip(TEMPERATURE_ESTIMATORS, stats, strict=True):
            bias2[name].append(b2)
            variance[name].append(var)
    return bias2, variance


def _simplex_samples(s: dict, tau: float) -> torch.Tensor:
    logits = torch.log(torch.tensor(s["probs"]))
    return gumbel.gumbel_softmax(
        logits.expand(s["n_points"], -1), tau, generator=_generator(s["seed"])
    )


def draw_temperature(state: Mapping[str, object] | None = None) -> Figure:
    r"""The Gumbel-softmax temperature at one setting: samples, their mean, bias and variance.

    With :math:`\ell = \log \pi` for three categories and :math:`g_k \sim \mathrm{Gumbel}(0, 1)`,

    .. math:: y = \mathrm{softmax}\bigl((\ell + g) / \tau\bigr).

    Left: ``n_points`` samples :math:`y` on the probability simplex (a small
    :math:`\tau` pushes them to the corners, a large one to the centre). Middle: per
    category, the frequency of :math:`\arg\max_k y_k` (equal to :math:`\pi_k` at every
    :math:`\tau`: the Gumbel-max trick), the mean :math:`\mathbb{E}[y_k]` (equal to
    :math:`\pi_k` only as :math:`\tau \to 0`) and :math:`\pi_k`. Right: squared bias
    :math:`\lVert \mathbb{E}[\hat g] - \nabla_\ell \mathbb{E}[f(z)] \rVert^2` and total
    variance of the one-sample Gumbel-softmax and straight-through Gumbel-softmax
    gradients of :math:`f(z) = (\sum_k k z_k - t)^2`, measured with
    :func:`stelib.diagnostics.gradient_stats` (``n_trials`` estimates) over the
    temperatures in ``sweep``, with the current :math:`\tau` marked: lowering
    :math:`\tau` trades bias for variance (Jang, Gu and Poole 2017; Maddison, Mnih and
    Teh 2017). Settings and defaults: :data:`TEMPERATURE_DEFAULTS`. Deterministic for a
    given state. Introduced in chapter 3.

    Args:
        state: a dict of settings; missing keys take their default.

    Returns:
        A new matplotlib figure with three axes.
    """
    s = _check_temperature(state)
    tau = s["tau"]
    y = _simplex_samples(s, tau)
    probs = torch.tensor(s["probs"])
    frequency = torch.nn.functional.one_hot(y.argmax(-1), 3).double().mean(0)
    fig, axes = plotting.subplots(3, width=3.3, height=3.1)
    plotting.plot_simplex(
        axes[0], y, labels=SYMBOLS, title=f"{s['n_points']} samples, $\\tau$ = {tau:.3g}"
    )
    plotting.plot_grouped_bars(
        axes[1],
        {"argmax of y": frequency, "mean of y": y.mean(0), "softmax($\\ell$)": probs},
        labels=SYMBOLS,
        ylabel="probability",
        title="argmax exact, mean relaxed",
    )
    taus = sorted(set(s["sweep"]) | {tau})
    bias2, variance = _sweep(s, taus)
    plotting.plot_bias_variance(
        axes[2],
        taus,
        bias2,
        variance,
        title=f"one-sample gradient, {s['n_trials']} trials per $\\tau$",
    )
    axes[2].legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7)
    index = taus.index(tau)
    plotting.mark_value(
        axes[2], tau, {name: (bias2[name][index], variance[name][index]) for name in bias2}
    )
    return fig


def temperature_figure(
    taus: Sequence[float] = (0.1, 0.5, 1.0, 5.0),
    *,
    probs: Sequence[float] = TEMPERATURE_DEFAULTS["probs"],
    target: float = TEMPERATURE_DEFAULTS["target"],
    n_points: int = TEMPERATURE_DEFAULTS["n_points"],
    n_trials: int = TEMPERATURE_DEFAULTS["n_trials"],
    seed: int = 0,
) -> Figure:
    r"""Static fallback of :func:`temperature_explorer`: a few temperatures side by side.

    Top row: ``n_points`` Gumbel-softmax samples
    :math:`y = \mathrm{softmax}((\log \pi + g)/\tau)` on the simplex, one panel per
    :math:`\tau` in ``taus``. Bottom: squared bias and total variance of the one-sample
    Gumbel-softmax and straight-through Gumbel-softmax gradients of
    :math:`f(z) = (\sum_k k z_k - t)^2` at those temperatures (as in
    :func:`draw_temperature`). Introduced in chapter 3.

    Args:
        taus: one to eight positive temperatures.
        probs, target, n_points, n_trials, seed: as in :data:`TEMPERATURE_DEFAULTS`.
    """
    taus = _positive_numbers(taus, "taus", maximum_length=8)
    s = _check_temperature(
        {
            "probs": probs,
            "target": target,
            "n_points": n_points,
            "n_trials": n_trials,
            "seed": seed,
            "sweep": taus,
        }
    )
    plotting.set_style()
    n = len(taus)
    fig = plt.figure(figsize=(2.4 * max(n, 3), 2.5 + 3.0), layout="constrained")
    grid = fig.add_gridspec(2, n, height_ratios=(2.5, 3.0))
    for i, tau in enumerate(taus):
        plotting.plot_simplex(
            fig.add_subplot(grid[0, i]),
            _simplex_samples(s, tau),
            labels=SYMBOLS,
            title=f"$\\tau$ = {tau:g}",
        )
    bias2, variance = _sweep(s, taus)
    plotting.plot_bias_variance(
        fig.add_subplot(grid[1, :]),
        taus,
        bias2,
        variance,
        title=f"one-sample gradient estimates ({s['n_trials']} trials at each $\\tau$)",
    )
    return fig


def temperature_explorer(**state):
    r"""A slider for the temperature :math:`\tau` (log scale), the number of samples and
    the seed, above :func:`draw_temperature` of the current settings.

    Keyword arguments set the initial settings (see :data:`TEMPERATURE_DEFAULTS`); bad
    settings raise ``TypeError`` or ``ValueError`` before any widget is built. Needs
    ipywidgets and a live kernel; the book shows :func:`temperature_figure` instead.
    Introduced in chapter 3.

    Returns:
        An ``ipywidgets.VBox`` (see the module docstring for its attributes).
    """
    ipywidgets = _ipywidgets("temperature_explorer", "temperature_figure")
    s = _check_temperature(state)
    style = {"description_width": "initial"}
    controls = {
        "tau": ipywidgets.FloatLogSlider(
            value=s["tau"],
            base=10,
            min=-1.5,
            max=1.0,
            step=0.05,
            description="temperature τ",
            continuous_update=False,
            readout_format=".3g",
            style=style,
        ),
        "n_points": ipywidgets.IntSlider(
            value=min(s["n_points"], 2000),
            min=50,
            max=2000,
            step=50,
            description="samples",
            continuous_update=False,
            style=style,
        ),
        "seed": ipywidgets.BoundedIntText(
            value=s["seed"], min=0, max=2**31 - 1, description="seed", style=style
        ),
    }
    fixed = {k: v for k, v in s.items() if k not in controls}

    def current() -> dict:
        return {**fixed, **{name: control.value for name, control in controls.items()}}

    return _explorer(draw_temperature, controls, current)


# --- chapter 2: surrogate derivatives of the straight-through estimator -----------

SURROGATE_DEFAULTS: dict[str, object] = {
    "backward": SURROGATES,
    "f0": 0.5,
    "signed": False,
    "limit": 3.0,
}
"""Settings of :func:`draw_surrogate`: the surrogate(s) to draw (names from
``stelib.ste.SURROGATES``), the score :math:`f_0` to mark, the :math:`\\pm 1`
version (``ste_sign``) instead of the 0/1 threshold, and the half-width of the
:math:`f` axis."""


def _check_surrogate(state) -> dict:
    s = _resolve(state, SURROGATE_DEFAULTS, "surrogate")
    backward = s["backward"]
    names = (backward,) if isinstance(backward, str) else backward
    if not isinstance(names, Sequence) or not names:
        raise ValueError(
            f"backward must be one of {SURROGATES} or a non-empty sequence of them, "
            f"got {backward!r}"
        )
    for name in names:
        if name not in SURROGATES:
            raise ValueError(f"backward must be one of {SURROGATES}, got {name!r}")
    s["backward"] = tuple(dict.fromkeys(names))
    s["limit"] = _number(s["limit"], "limit", low=0.0, high=100.0)
    s["f0"] = _number(s["f0"], "f0")
    if abs(s["f0"]) > s["limit"]:
        raise ValueError(f"f0 must lie in [-limit, limit] = [-{s['limit']:g}, {s['limit']:g}]")
    if not isinstance(s["signed"], bool):
        raise TypeError(f"signed must be True or False, got {s['signed']!r}")
    return s


def _pretend_forward(name: str, f: torch.Tensor, signed: bool) -> torch.Tensor:
    """The function :math:`s(f)` whose derivative the backward pass uses."""
    if name == "identity":
        return f
    if name == "clipped":
        return f.clamp(-1.0, 1.0)
    sigmoid = torch.sigmoid(f)
    return 2.0 * sigmoid - 1.0 if signed else sigmoid


def _surrogate_derivative(name: str, f: torch.Tensor, signed: bool) -> torch.Tensor:
    """:math:`\\partial z / \\partial f` as the library's backward pass computes it."""
    leaf = f.detach().clone().requires_grad_(True)
    op = ste_sign if signed else ste_threshold
    op(leaf, name).sum().backward()
    return leaf.grad


def draw_surrogate(state: Mapping[str, object] | None = None) -> Figure:
    r"""The straight-through estimator's surrogate derivatives, with one score marked.

    The forward pass keeps :math:`z = \mathrm{Threshold}(f) = \mathbf{1}[f > 0]` (or
    :math:`\mathrm{sign}(f)` with ``signed=True``); the backward pass replaces
    :math:`\partial z/\partial f = 0` by the derivative :math:`s'(f)` of a "pretend"
    forward function :math:`s`:

    - ``"identity"``: :math:`s(f) = f`, :math:`s'(f) = 1`;
    - ``"clipped"``: :math:`s(f) = \mathrm{clamp}(f, -1, 1)`,
      :math:`s'(f) = \mathbf{1}[|f| \le 1]`;
    - ``"sigmoid"``: :math:`s(f) = \sigma(f)` (:math:`2\sigma(f) - 1` when signed),
      :math:`s'(f) = \sigma(f)(1 - \sigma(f))` (twice that when signed).

    Left: :math:`s(f)` of each selected surrogate with the hard step, and the step's
    value at :math:`f_0`. Right: :math:`s'(f)` as computed by autograd through
    :func:`stelib.ste_threshold` (or :func:`stelib.ste_sign`), with the values at
    :math:`f_0` marked and printed in the title. Settings and defaults:
    :data:`SURROGATE_DEFAULTS`. Introduced in chapter 2.

    Args:
        state: a dict of settings; missing keys take their default.

    Returns:
        A new matplotlib figure with two axes.
    """
    s = _check_surrogate(state)
    signed, f0 = s["signed"], s["f0"]
    f = torch.linspace(-s["limit"], s["limit"], 601)
    forwards = {name: _pretend_forward(name, f, signed) for name in s["backward"]}
    derivatives = {name: _surrogate_derivative(name, f, signed) for name in s["backward"]}
    step = ste_sign if signed else ste_threshold
    fig, axes = plotting.subplots(2, width=3.6, height=3.3)
    plotting.plot_surrogates(axes, f, forwards, derivatives, hard=step(f).detach())
    point = torch.tensor([f0])
    z0 = float(step(point))
    at_f0 = {name: float(_surrogate_derivative(name, point, signed)) for name in s["backward"]}
    plotting.mark_value(axes[0], f0, {"exact": z0})
    plotting.mark_value(axes[1], f0, at_f0)
    values = ", ".join(f"{name} {value:.3g}" for name, value in at_f0.items())
    axes[1].set_title(f"backward: s'(f) at f = {f0:.2f}\n{values}", fontsize=9)
    forward = "sign(f)" if signed else "Threshold(f)"
    axes[0].set_title(f"forward: z = {forward}\nz = {z0:g} at f = {f0:.2f}", fontsize=9)
    return fig


def surrogate_figure(
    backward: str | Sequence[str] = SURROGATES, *, signed: bool = False, f0: float = 0.5
) -> Figure:
    r"""Static fallback of :func:`surrogate_explorer`: every surrogate in one figure.

    The same two panels as :func:`draw_surrogate` (pretend forward :math:`s(f)` and the
    surrogate derivative :math:`s'(f)` that replaces :math:`\partial z/\partial f = 0`),
    for all of ``backward`` at once. Introduced in chapter 2.
    """
    return draw_surrogate({"backward": backward, "signed": signed, "f0": f0})


def surrogate_explorer(**state):
    r"""Controls for the surrogate(s), the score :math:`f_0` and the 0/1 or
    :math:`\pm 1` step, above :func:`draw_surrogate` of the current settings.

    Keyword arguments set the initial settings (see :data:`SURROGATE_DEFAULTS`); bad
    settings raise ``TypeError`` or ``ValueError`` before any widget is built. Needs
    ipywidgets and a live kernel; the book shows :func:`surrogate_figure` instead.
    Introduced in chapter 2.

    Returns:
        An ``ipywidgets.VBox`` (see the module docstring for its attributes).
    """
    ipywidgets = _ipywidgets("surrogate_explorer", "surrogate_figure")
    s = _check_surrogate(state)
    style = {"description_width": "initial"}
    controls = {
        "backward": ipywidgets.SelectMultiple(
            options=list(SURROGATES),
            value=list(s["backward"]),
            rows=len(SURROGATES),
            description="surrogate",
            style=style,
        ),
        "f0": ipywidgets.FloatSlider(
            value=s["f0"],
            min=-s["limit"],
            max=s["limit"],
            step=0.05,
            description="score f₀",
            continuous_update=False,
            style=style,
        ),
        "signed": ipywidgets.Checkbox(value=s["signed"], description="±1 (ste_sign)"),
    }
    fixed = {k: v for k, v in s.items() if k not in controls}

    def current() -> dict:
        values = {name: control.value for name, control in controls.items()}
        values["backward"] = tuple(values["backward"])
        return {**fixed, **values}

    return _explorer(draw_surrogate, controls, current)


# --- chapter 4: the distribution of single gradient estimates --------------------

ESTIMATOR_DEFAULTS: dict[str, object] = {
    "estimator": "reinforce",
    "n_samples": 1,
    "baseline": None,
    "tau": None,
    "target": 0.45,
    "p": 0.5,
    "n_trials": 500,
    "seed": 0,
    "bins": 40,
}
"""Settings of :func:`draw_estimator`: the estimator's name in
:data:`stelib.estimators.ESTIMATORS`; samples per estimate; the REINFORCE baseline
(``None``, ``"rloo"`` or a number; only for estimators with a ``baseline`` option);
the temperature (``None`` for the estimator's default; only for estimators with a
``tau`` option); the target :math:`t` and probability :math:`p` of the quadratic toy
:math:`f(z) = (z - t)^2`, :math:`z \\sim \\mathrm{Bern}(p)`; the number of estimates;
the seed; and the number of histogram bins."""


def _bernoulli_estimators() -> tuple[str, ...]:
    return tuple(
        name for name, est in estimators.ESTIMATORS.items() if estimators.supports(est, "bernoulli")
    )


def _options(estimator: Callable) -> set[str]:
    return set(inspect.signature(estimator).parameters)


def _check_estimator(state) -> dict:
    s = _resolve(state, ESTIMATOR_DEFAULTS, "estimator")
    names = _bernoulli_estimators()
    if s["estimator"] not in names:
        raise ValueError(
            f"estimator must be one of {names} (estimators of a Bernoulli variable), "
            f"got {s['estimator']!r}"
        )
    options = _options(estimators.ESTIMATORS[s["estimator"]])
    s["n_samples"] = _count(s["n_samples"], "n_samples", maximum=10_000)
    baseline = s["baseline"]
    if baseline is not None:
        if "baseline" not in options:
            raise ValueError(
                f"baseline applies only to estimators with a baseline option (such as "
                f"'reinforce'), not to {s['estimator']!r}; use baseline=None"
            )
        if isinstance(baseline, str):
            if baseline != "rloo":
                raise ValueError(f"baseline must be None, 'rloo' or a number, got {baseline!r}")
            if s["n_samples"] < 2:
                raise ValueError(
                    "baseline='rloo' needs n_samples >= 2 (it averages the other samples)"
                )
        else:
            s["baseline"] = _number(baseline, "baseline")
    if s["tau"] is not None:
        if "tau" not in options:
            raise ValueError(
                f"tau applies only to estimators with a temperature, not to "
                f"{s['estimator']!r}; use tau=None"
            )
        s["tau"] = _number(s["tau"], "tau", low=0.0)
    s["target"] = _number(s["target"], "target")
    s["p"] = _number(s["p"], "p", low=0.0, high=1.0)
    s["n_trials"] = _count(s["n_trials"], "n_trials", minimum=2, maximum=100_000)
    s["seed"] = _seed(s["seed"])
    s["bins"] = _count(s["bins"], "bins", maximum=500)
    return s


def _estimator_label(s: dict) -> str:
    parts = [s["estimator"], f"n = {s['n_samples']}"]
    if s["baseline"] is not None:
        baseline = s["baseline"]
        parts.append(f"baseline {baseline if isinstance(baseline, str) else f'{baseline:.3g}'}")
    if s["tau"] is not None:
        parts.append(f"$\\tau$ = {s['tau']:.3g}")
    return ", ".join(parts)


def _estimator_stats(s: dict) -> diagnostics.GradientStats:
    options = {"n_samples": s["n_samples"]}
    if s["baseline"] is not None:
        options["baseline"] = s["baseline"]
    if s["tau"] is not None:
        options["tau"] = s["tau"]
    problem = problems.quadratic(target=s["target"], p=s["p"])
    return diagnostics.gradient_stats(
        estimators.ESTIMATORS[s["estimator"]],
        problem.f,
        problem.logits,
        n_trials=s["n_trials"],
        generator=_generator(s["seed"]),
        **options,
    )


def _estimator_panel(ax, s: dict, stats: diagnostics.GradientStats, bins) -> None:
    plotting.plot_gradient_histogram(
        ax, stats.samples[:, 0], float(stats.exact[0]), name=s["estimator"], bins=bins
    )
    bias, error = float(stats.bias[0]), 2 * float(stats.std_error[0])
    ax.set_title(
        f"{_estimator_label(s)}\nbias {bias:+.4f} ± {error:.4f} (2 s.e.), "
        f"std {math.sqrt(stats.total_variance):.4f}",
        fontsize=9,
    )


def draw_estimator(state: Mapping[str, object] | None = None) -> Figure:
    r"""The histogram of single gradient estimates of one estimator, against the exact gradient.

    On the quadratic toy :math:`f(z) = (z - t)^2`, :math:`z \sim \mathrm{Bern}(\sigma(\ell))`
    with :math:`\sigma(\ell) = p` (:func:`stelib.problems.quadratic`), the exact gradient is

    .. math:: \frac{\partial}{\partial \ell}\, \mathbb{E}[f(z)] = \sigma'(\ell)\,(1 - 2t).

    The figure shows ``n_trials`` independent estimates :math:`\hat g` of the chosen
    estimator (each averaging ``n_samples`` samples, with the chosen baseline or
    temperature), measured by :func:`stelib.diagnostics.gradient_stats` and drawn by
    :func:`stelib.plotting.plot_gradient_histogram`: their mean, the exact gradient, and
    in the title the bias :math:`\bar g - g` with two standard errors and the standard
    deviation of one estimate. An unbiased estimator's mean sits on the exact line within
    its error; a baseline or more samples narrow the histogram (Williams 1992; Mohamed
    et al. 2020). Settings and defaults: :data:`ESTIMATOR_DEFAULTS`. Introduced in
    chapter 4.

    Args:
        state: a dict of settings; missing keys take their default.

    Returns:
        A new matplotlib figure with one axes.
    """
    s = _check_estimator(state)
    fig, ax = plotting.subplots(width=5.6, height=3.6)
    _estimator_panel(ax, s, _estimator_stats(s), s["bins"])
    return fig


ESTIMATOR_FIGURE_SETTINGS: tuple[dict, ...] = (
    {"estimator": "reinforce", "n_samples": 1},
    {"estimator": "reinforce", "n_samples": 1, "baseline": 0.25},
    {"estimator": "reinforce", "n_samples": 4, "baseline": "rloo"},
)
"""The default panels of :func:`estimator_figure`."""


def estimator_figure(
    settings: Sequence[Mapping[str, object]] = ESTIMATOR_FIGURE_SETTINGS,
    *,
    target: float = ESTIMATOR_DEFAULTS["target"],
    p: float = ESTIMATOR_DEFAULTS["p"],
    n_trials: int = ESTIMATOR_DEFAULTS["n_trials"],
    seed: int = 0,
) -> Figure:
    r"""Static fallback of :func:`estimator_explorer`: a few estimators side by side.

    One histogram panel per entry of ``settings`` (each a dict of
    :data:`ESTIMATOR_DEFAULTS` keys, such as ``{"estimator": "reinforce", "n_samples": 4,
    "baseline": "rloo"}``), on a shared :math:`x` axis, as in :func:`draw_estimator`. The
    default shows REINFORCE with one sample and no baseline, with one sample and the
    constant baseline :math:`b = 0.25` (close to :math:`\mathbb{E}[f(z)] = 0.2525` at the
    defaults), and with four samples and the leave-one-out baseline: the same mean, ever
    narrower histograms. Introduced in chapter 4.
    """
    if isinstance(settings, Mapping) or not isinstance(settings, Sequence):
        raise TypeError(f"settings must be a sequence of dicts, got {type(settings).__name__}")
    if not 1 <= len(settings) <= 6:
        raise ValueError(f"settings must hold 1 to 6 panels, got {len(settings)}")
    common = {"target": target, "p": p, "n_trials": n_trials, "seed": seed}
    resolved = []
    for one in settings:
        if not isinstance(one, Mapping):
            raise TypeError(f"each entry of settings must be a dict, got {type(one).__name__}")
        resolved.append(_check_estimator({**common, **one}))
    all_stats = [_estimator_stats(s) for s in resolved]
    # common bin edges, so that a narrow histogram shows as a tall bar, not a sliver
    values = torch.cat([stats.samples[:, 0] for stats in all_stats])
    low, high = float(values.min()), float(values.max())
    pad = 0.05 * (high - low) if high > low else 0.5 * max(abs(low), 1e-3)
    edges = torch.linspace(low - pad, high + pad, ESTIMATOR_DEFAULTS["bins"] + 1).numpy()
    fig, axes = plotting.subplots(len(resolved), width=3.6, height=3.2, sharex=True)
    axes = [axes] if len(resolved) == 1 else list(axes)
    for ax, s, stats in zip(axes, resolved, all_stats, strict=True):
        _estimator_panel(ax, s, stats, edges)
    return fig


def estimator_explorer(**state):
    r"""Controls for the estimator, the number of samples, the baseline, the temperature
    and the seed, above :func:`draw_estimator` of the current settings.

    The baseline menu (none, leave-one-out, or the exact mean loss
    :math:`\mathbb{E}[f(z)]` as a constant) applies only to estimators with a baseline
    option, the temperature only to those with a ``tau`` option; the other is greyed out
    and ignored. Keyword arguments set the initial settings (see
    :data:`ESTIMATOR_DEFAULTS`); bad settings raise ``TypeError`` or ``ValueError``
    before any widget is built. An invalid combination chosen with the controls (the
    leave-one-out baseline with one sample) is explained above the figure instead.
    Needs ipywidgets and a live kernel; the book shows :func:`estimator_figure`
    instead. Introduced in chapter 4.

    Returns:
        An ``ipywidgets.VBox`` (see the module docstring for its attributes).
    """
    ipywidgets = _ipywidgets("estimator_explorer", "estimator_figure")
    s = _check_estimator(state)
    style = {"description_width": "initial"}
    mean_loss = float(problems.quadratic(target=s["target"], p=s["p"]).expectation())
    baselines = [
        ("none", None),
        ("leave-one-out (rloo)", "rloo"),
        (f"E[f] = {mean_loss:.4g}", mean_loss),
    ]
    if s["baseline"] is not None and s["baseline"] not in [v for _, v in baselines]:
        baselines.append((f"{s['baseline']:.4g}", s["baseline"]))
    controls = {
        "estimator": ipywidgets.Dropdown(
            options=list(_bernoulli_estimators()),
            value=s["estimator"],
            description="estimator",
            style=style,
        ),
        "n_samples": ipywidgets.IntSlider(
            value=min(s["n_samples"], 64),
            min=1,
            max=64,
            description="samples n",
            continuous_update=False,
            style=style,
        ),
        "baseline": ipywidgets.Dropdown(
            options=baselines, value=s["baseline"], description="baseline", style=style
        ),
        "tau": ipywidgets.FloatLogSlider(
            value=1.0 if s["tau"] is None else s["tau"],
            base=10,
            min=-1.5,
            max=1.0,
            step=0.05,
            description="temperature τ",
            continuous_update=False,
            readout_format=".3g",
            style=style,
        ),
        "seed": ipywidgets.BoundedIntText(
            value=s["seed"], min=0, max=2**31 - 1, description="seed", style=style
        ),
    }
    fixed = {k: v for k, v in s.items() if k not in controls}

    def applicable() -> set[str]:
        return _options(estimators.ESTIMATORS[controls["estimator"].value])

    def current() -> dict:
        values = {name: control.value for name, control in controls.items()}
        options = applicable()
        if "baseline" not in options:
            values["baseline"] = None
        if "tau" not in options:
            values["tau"] = None
        return {**fixed, **values}

    def grey_out(change=None) -> None:
        options = applicable()
        controls["baseline"].disabled = "baseline" not in options
        controls["tau"].disabled = "tau" not in options

    grey_out()
    controls["estimator"].observe(grey_out, names="value")
    return _explorer(draw_estimator, controls, current)
