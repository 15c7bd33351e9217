"""Executing one run: plan, claim, create, start, finish; executors."""
