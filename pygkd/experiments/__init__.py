"""Experiment runners above the algorithms: a distillation run, a pruning run, the paper's
comparisons (Tables 2/4/5/7/8), tuning and the quickstart pipeline. Each is callable from
Python and returns its results (dicts of metrics, dataclasses); the CLI only prints them.

Layers, from the bottom: ``data``, ``nn`` -> ``train`` -> ``distill``, ``prune`` ->
``experiments`` -> ``cli``; nothing imports upwards.
"""
