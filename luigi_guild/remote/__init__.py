"""Remotes: named SSH hosts from the user config, reached over Fabric.

``config`` only needs PyYAML. ``ssh`` imports Fabric/Paramiko and must be
imported lazily, only by commands that actually talk to a remote.
"""
