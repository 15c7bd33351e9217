"""Helper process: report an argparse script's options as JSON flag definitions.

Run as ``python -m luigi_guild.project.flags_import SCRIPT``. The script runs until it
parses its arguments; at that moment the parser's options are printed as one
JSON line and the process exits without running the rest of the script.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from typing import NoReturn

_TYPES = {str: "string", int: "int", float: "float", bool: "boolean"}


def _flag_defs(parser: argparse.ArgumentParser) -> dict:
    defs = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        name = longs[0][2:]
        spec: dict = {}
        if isinstance(action, argparse._StoreTrueAction):
            spec.update({"type": "boolean", "default": bool(action.default), "arg-switch": True})
        elif isinstance(action, argparse._StoreFalseAction):
            spec.update({"type": "boolean", "default": bool(action.default), "arg-switch": False})
        elif isinstance(action, argparse._StoreAction):
            ftype = _TYPES.get(action.type) if action.type else None  # type: ignore[call-overload]
            default = action.default
            if ftype is None and isinstance(default, (int, float)) and not isinstance(default, bool):
                ftype = "number"
            elif ftype is None and action.type is None:
                ftype = "string" if default is None or isinstance(default, str) else None
            if ftype:
                spec["type"] = ftype
            if isinstance(default, (str, int, float, bool)) or default is None:
                spec["default"] = default
            if action.choices:
                spec["choices"] = list(action.choices)
        else:
            continue
        if action.required:
            spec["required"] = True
        if action.help and action.help != argparse.SUPPRESS:
            spec["help"] = action.help
        defs[name] = spec
    return defs


def main() -> None:
    script = sys.argv[1]

    def intercept(self: argparse.ArgumentParser, args: object = None, namespace: object = None) -> NoReturn:
        sys.stdout.write("\n" + json.dumps(_flag_defs(self)) + "\n")
        sys.stdout.flush()
        raise SystemExit(0)

    argparse.ArgumentParser.parse_known_args = intercept  # type: ignore[method-assign]
    sys.argv = [script]
    sys.path.insert(0, "")
    runpy.run_path(script, run_name="__main__")
    sys.stdout.write("\n{}\n")


if __name__ == "__main__":
    main()
