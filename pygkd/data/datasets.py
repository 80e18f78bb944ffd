"""Dataset names -> :class:`~pygkd.data.traffic.TrafficData`, for recipes and the command line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pygkd.data.download import default_data_dir
from pygkd.data.loaders import load_custom, load_los_loop, load_pems0x, load_pemsd7m
from pygkd.data.synthetic import make_synthetic_network
from pygkd.data.traffic import TrafficData
from pygkd.errors import InputError

if TYPE_CHECKING:
    from pygkd.data.windows import ForecastDataset

__all__ = ["DATASETS", "load_dataset", "load_forecast_dataset", "loader_options"]

#: Built-in names; anything else is read as the path of your own speeds CSV.
DATASETS = ("synthetic", "los-loop", "pemsd7m", "pems08", "metr-la", "pems-bay")

_OPTIONS = {
    "synthetic": {"num_nodes", "num_days", "steps_per_day", "seed", "missing_rate", "noise_mph",
                  "sigma2", "epsilon"},
    "los-loop": set(),
    "pemsd7m": {"sigma2", "epsilon", "num_nodes"},
    "pems08": {"sigma2", "epsilon", "channel"},
    "metr-la": set(),
    "pems-bay": set(),
    "custom": {"graph", "graph_kind", "sigma2", "epsilon", "scaling", "steps_per_day", "step",
               "missing", "date_format"},
}


def load_dataset(name: str, root: str | Path | None = None, **options: Any) -> TrafficData:
    """Load a dataset by name.

    Args:
        name: ``synthetic`` (built in), ``los-loop``, ``pemsd7m``, ``pems08``, or the path of
            your own speeds CSV (then ``graph=`` names the graph file).
        root: folder holding the dataset's files (default: ``$PYGKD_DATA`` or
            ``~/.cache/pygkd/data``).
        **options: dataset options (``sigma2``, ``epsilon``, ``channel``, ``num_nodes``, ...).

    Example:
        >>> load_dataset("synthetic", num_nodes=8, num_days=3).num_nodes
        8
    """
    key = name if name in DATASETS else "custom"
    unknown = set(options) - _OPTIONS[key]
    if unknown:
        raise InputError(
            f"data: unknown option(s) {sorted(unknown)} for {key!r} "
            f"(choose from: {', '.join(sorted(_OPTIONS[key])) or 'none'})"
        )
    folder = Path(root) if root is not None else default_data_dir()
    if key == "synthetic":
        return make_synthetic_network(**options)
    if key == "los-loop":
        return load_los_loop(folder)
    if key == "pemsd7m":
        return load_pemsd7m(folder, **options)
    if key == "pems08":
        return load_pems0x(folder / "PEMS08.npz", folder / "PEMS08.csv", name="pems08", **options)
    if key in ("metr-la", "pems-bay"):
        from pygkd.data.formats import load_metr_format

        graph = "adj_mx.pkl" if key == "metr-la" else "adj_mx_bay.pkl"
        return load_metr_format(folder / f"{key}.h5", folder / graph, name=key)
    path = Path(name)
    if path.suffix.lower() == ".h5":  # METR-LA / PEMS-BAY / LargeST formats
        from pygkd.data.formats import load_largest, load_metr_format

        graph = options.pop("graph", None)
        if graph is None:
            raise InputError(f"--graph: required with {name!r} (adj_mx.pkl, or an .npy / .npz "
                             "adjacency)")
        unknown = set(options) - {"missing", "step"}
        if unknown:
            raise InputError(f"data: option(s) {sorted(unknown)} do not apply to .h5 data")
        if str(graph).lower().endswith(".pkl"):
            return load_metr_format(path, Path(graph), name=path.stem)
        return load_largest(path, Path(graph), name=path.stem)
    if path.suffix.lower() != ".csv" and not path.exists():
        raise InputError(
            f"dataset: unknown {name!r} (choose from: {', '.join(DATASETS)}, or give the path of "
            "a speeds CSV with --graph)"
        )
    graph = options.pop("graph", None)
    if graph is None:
        raise InputError(f"--graph: required with your own speeds file {name!r}")
    return load_custom(path, graph, name=path.stem, **options)


def loader_options(name: str, options: dict[str, Any] | None = None, step: str | None = None,
                   missing: str | None = None) -> dict[str, Any]:
    """The loader options of ``name`` with the sampling step and missing-value policy of your
    own data added (the built-in datasets know theirs; ``--step`` on them is an error)."""
    options = dict(options or {})
    if step is not None:
        if name in DATASETS:
            raise InputError(f"--step: {name!r} knows its sampling step; --step is for your "
                             "own data")
        options["step"] = step
    if missing is not None and name not in DATASETS:
        options["missing"] = missing
    return options


def load_forecast_dataset(
    name: str, root: str | Path | None = None, split: str | None = None,
    options: dict[str, Any] | None = None, n_in: int = 12, n_out: int = 9,
    horizons: tuple[int, ...] | None = None, missing: str | None = None,
    step: str | None = None, inputs: Sequence[str] = (),
) -> ForecastDataset:
    """Load a dataset by name and preprocess it into ``n_in``-in / ``n_out``-out windows (the
    paper's 12 / 9, Sec. 4.1). ``step`` is the sampling step of your own data (``5min``,
    ``7D``); ``missing`` the missing-value policy (``zero`` / ``nan`` / ``none``); ``inputs``
    the extra input channels (:mod:`pygkd.data.inputs`)."""
    from pygkd.data.windows import ForecastDataset

    data = load_dataset(name, root, **loader_options(name, options, step, missing))
    return ForecastDataset.from_traffic(data, split=split, n_in=n_in, n_out=n_out,
                                        horizons=horizons, missing=missing, inputs=inputs)
