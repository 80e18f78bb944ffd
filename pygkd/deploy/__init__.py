"""Deployment: forecast from recent readings, and export models that run outside Python's
training stack (ONNX Runtime, ``torch.export``)."""

from pygkd.deploy.export import FORMATS, export_forecaster, onnx_session
from pygkd.deploy.forecaster import Forecaster, read_readings
from pygkd.deploy.module import ForecastModule, load_forecast_module

__all__ = ["FORMATS", "ForecastModule", "Forecaster", "export_forecaster",
           "load_forecast_module", "onnx_session", "read_readings"]
