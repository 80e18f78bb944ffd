"""Figures and shareable reports: t-SNE of hidden representations (paper Sec. 4.2), forecast
vs ground truth (paper Fig. 4, 5), training curves, and one HTML page per set of runs."""

from pygkd.report.analysis import (
                                   busiest_sensor,
                                   fit_channel_map,
                                   hidden_features,
                                   sensor_forecast,
                                   tsne_embedding,
)
from pygkd.report.environment import environment_info
from pygkd.report.figures import curves_figure, forecast_figure, save_figure, tsne_figure
from pygkd.report.page import (
                                   RunRecord,
                                   find_runs,
                                   find_tables,
                                   group_label,
                                   markdown_to_html,
                                   representatives,
                                   write_report,
)
from pygkd.report.plots import curves_plot, forecast_plot, load_students, load_teacher, tsne_plot

__all__ = [
    "hidden_features", "fit_channel_map", "tsne_embedding", "sensor_forecast", "busiest_sensor",
    "environment_info", "tsne_figure", "forecast_figure", "curves_figure", "save_figure",
    "load_teacher", "load_students", "curves_plot", "forecast_plot", "tsne_plot",
    "RunRecord", "find_runs", "find_tables", "group_label", "markdown_to_html",
    "representatives",
    "write_report",
]
