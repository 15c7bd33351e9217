"""The resource cache: files downloaded from URLs, kept under Guild home's ``cache/resources`` as Guild keeps them.

A URL's file lives in ``cache/resources/<sha224 of the URL's parts>/<file
name>``, the directory Guild 0.9 computes, so either tool finds what the
other downloaded. A verified SHA-256 is remembered beside the file in
``.guild-cache-<name>.sha``. Downloads are written to a temporary file in
that directory and renamed into place once complete, so an interrupted or
failed download leaves nothing behind. Fetching is the standard library's
``urllib`` (http, https, ftp and file URLs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Optional

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError

_CHUNK = 1 << 20
TIMEOUT = 60.0
"""Seconds without data before a download is given up."""


@dataclass(frozen=True)
class Download:
    """A file in the resource cache: its path, its SHA-256, and whether it was already there."""

    path: str
    sha256: str
    cached: bool


def cache_dir_for(url: str) -> str:
    """The cache directory of ``url`` (Guild's key: SHA-224 of the parsed URL's six parts, one per line)."""
    from urllib.parse import urlparse

    key = "\n".join(urlparse(url)).encode("utf-8")
    return home.cache_dir("resources", hashlib.sha224(key).hexdigest())


def file_name(url: str) -> str:
    """The name the URL's file is kept under: the last part of its path, unquoted."""
    from urllib.parse import unquote, urlparse

    name = unquote(urlparse(url).path.split("/")[-1])
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise GuildError("cannot download %s: the URL does not name a file" % url)
    return name


def download(url: str, sha256: Optional[str] = None) -> Download:
    """The cached file for ``url``, downloading it first when it is not in the cache.

    With ``sha256``, the file must have that digest: a new download that
    does not is removed; a cached file that does not is kept (delete it to
    download again) and the mismatch reported.
    """
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise GuildError("invalid SHA-256 digest '%s' (expected 64 hex digits)" % sha256)
    name = file_name(url)
    _check_scheme(url)
    target_dir = cache_dir_for(url)
    path = os.path.join(target_dir, name)
    if os.path.isfile(path):
        remembered = cached_sha256(path)
        digest = remembered if sha256 and remembered == sha256 else file_sha256(path)
        if sha256 and digest != sha256:
            raise GuildError(
                "cached file %s does not match the expected SHA-256 (expected %s, got %s)" % (path, sha256, digest),
                hint="Delete the file to download it again.",
            )
        if sha256:
            _remember_sha256(path, digest)
        return Download(path, digest, cached=True)
    if os.path.lexists(path):
        raise GuildError("cannot download %s: %s exists and is not a file" % (url, path))
    made_dir = not os.path.isdir(target_dir)
    os.makedirs(target_dir, exist_ok=True)
    tmp = os.path.join(target_dir, ".tmp-download-%d-%s" % (os.getpid(), os.urandom(4).hex()))
    try:
        digest = _fetch(url, tmp)
        if sha256 and digest != sha256:
            raise GuildError("%s does not match the expected SHA-256 (expected %s, got %s)" % (url, sha256, digest))
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        if made_dir:
            try:
                os.rmdir(target_dir)
            except OSError:
                pass
        raise
    if sha256:
        _remember_sha256(path, digest)
    return Download(path, digest, cached=False)


def _check_scheme(url: str) -> None:
    from urllib.parse import urlparse

    scheme = urlparse(url).scheme
    if scheme not in ("http", "https", "ftp", "file"):
        raise GuildError("cannot download %s: unsupported URL (use http, https, ftp or file)" % url)


def _fetch(url: str, dest: str) -> str:
    """Write ``url``'s content to ``dest``; returns its SHA-256."""
    import urllib.error
    import urllib.request

    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp, open(dest, "wb") as out:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as e:
        raise GuildError("error downloading %s: HTTP Error %d: %s" % (url, e.code, e.reason)) from None
    except urllib.error.URLError as e:
        reason = e.reason
        text = getattr(reason, "strerror", None) or str(reason)
        raise GuildError("error downloading %s: %s" % (url, text)) from None
    except (OSError, ValueError) as e:
        raise GuildError("error downloading %s: %s" % (url, getattr(e, "strerror", None) or e)) from None
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    """SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _sha_file(path: str) -> str:
    parent, name = os.path.split(path)
    return os.path.join(parent, ".guild-cache-%s.sha" % name)


def cached_sha256(path: str) -> Optional[str]:
    """The SHA-256 remembered for a cached file once verified, or None."""
    try:
        with open(_sha_file(path)) as f:
            return f.read().strip() or None
    except OSError:
        return None


def _remember_sha256(path: str, digest: str) -> None:
    from luigi_guild.model.atomic import write_file_atomic

    try:
        write_file_atomic(_sha_file(path), digest)
    except OSError as e:  # the download itself is fine
        sys.stderr.write("WARNING: cannot record the SHA-256 of %s: %s\n" % (path, e.strerror or e))


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        shutil.rmtree(path, ignore_errors=True)
