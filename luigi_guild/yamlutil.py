"""YAML encoding and decoding the way Guild writes attribute files."""

from __future__ import annotations

from typing import Any

import yaml

try:  # the C loader is several times faster where libyaml is available
    _Loader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper

_QUOTED_CHARS = {"y", "n", "Y", "N"}


def encode(value: Any) -> str:
    """Encode ``value`` as a block-style YAML document without end markers."""
    if isinstance(value, str) and value in _QUOTED_CHARS:
        return "'%s'" % value
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=False, indent=2, allow_unicode=True)
    text = text.strip()
    if text.endswith("\n..."):
        text = text[:-4]
    elif text == "...":
        text = ""
    return text


def decode(text: str) -> Any:
    """Decode a YAML document; plain integers take a fast path."""
    stripped = text.strip()
    digits = stripped[1:] if stripped[:1] == "-" else stripped
    if digits.isascii() and digits.isdigit() and (digits[0] != "0" or digits == "0"):
        return int(stripped)
    return yaml.load(text, Loader=_Loader)
