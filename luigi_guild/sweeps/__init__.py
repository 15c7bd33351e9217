"""Batches of trials: trial generation, optimizers, batch runs, the sweep driver."""
