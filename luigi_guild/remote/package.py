"""The package a remote run is made from: a project's source files, named and digested.

A project is shipped to a remote as the files :mod:`luigi_guild.project.sourcecode`
would copy into a run (same skips and limits). Its name follows Guild's
anonymous packages, ``gpkg.anonymous-<first 8 hex of md5(abs guild.yml path)>``,
so remote runs list as ``gpkg.anonymous-1a2b3c4d/<op>``. The digest covers
every file's path and bytes: the remote keeps one directory per digest, so an
unchanged project is never mixed with an edited one.

No Fabric here: building a package needs only the local file system.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from luigi_guild.project import sourcecode

PACKAGES_DIR = "cache/packages"  # relative to the remote Guild home


@dataclass(frozen=True)
class Package:
    """A project's source ready to copy: where it is, what goes, and under which name."""

    name: str
    project_dir: str
    files: tuple[str, ...]
    digest: str

    @property
    def remote_dir(self) -> str:
        """Where the package lives on the remote, relative to its Guild home."""
        return "%s/%s-%s" % (PACKAGES_DIR, self.name, self.digest)


def package_name(guildfile: str) -> str:
    """Guild's anonymous package name for a project's guild.yml."""
    return "gpkg.anonymous-%s" % hashlib.md5(os.path.abspath(guildfile).encode("utf-8")).hexdigest()[:8]


def build(project_dir: str) -> Package:
    """Collect the project's source files (with ``guild.yml``) and digest them."""
    project_dir = os.path.abspath(project_dir)
    files = list(sourcecode.source_files(project_dir))
    if "guild.yml" not in files and os.path.isfile(os.path.join(project_dir, "guild.yml")):
        files.append("guild.yml")
    digest = hashlib.md5()
    for rel in sorted(files):
        digest.update(rel.encode("utf-8") + b"\0")
        with open(os.path.join(project_dir, rel), "rb") as f:
            digest.update(hashlib.md5(f.read()).digest())
    return Package(
        name=package_name(os.path.join(project_dir, "guild.yml")),
        project_dir=project_dir,
        files=tuple(sorted(f.replace(os.sep, "/") for f in files)),
        digest=digest.hexdigest(),
    )
