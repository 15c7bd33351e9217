# An argparse script that fails before it parses its arguments.
import argparse

raise RuntimeError("broken before parsing")
argparse.ArgumentParser().parse_args()
