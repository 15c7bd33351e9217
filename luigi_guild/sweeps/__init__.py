"""Batches of trials. Import the concrete modules; this package re-exports nothing.

``trials`` (flag values: functions, grid, batch files, SweepSpec), ``optimizers``
(ask/tell, the registry, grid and random search), ``batch`` (batch runs) and
``driver`` (plan and run a sweep).
"""
