"""Remotes: named places to run operations and copy runs to and from, defined in the user config.

:mod:`.base` is the interface the commands use (``remote_for(name)``) and the
registry of kinds. Importing this package registers the built-in kinds:
``ssh`` (another machine, over SSH), ``local`` (a second Guild home on
this host) and ``slurm`` (a cluster's shared Guild home, runs started by
Slurm jobs). None of this imports Paramiko or Fabric: :mod:`.ssh` does, and
only the ``ssh`` kind imports it, only when it connects (Fabric: only for a
command that reads the local stdin).
"""

from luigi_guild.remote import local_kind, slurm_kind, ssh_kind  # noqa: F401  (register the built-in kinds)
