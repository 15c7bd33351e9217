"""Fail on purpose: an assertion error gives exit status 1."""

assert False
