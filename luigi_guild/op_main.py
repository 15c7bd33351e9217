"""Child-side entry point: ``python -um luigi_guild.op_main MODULE [--flag value ...]``.

With ``FLAGS_DEST=globals`` each ``--name value`` pair (JSON-encoded values)
sets a module global: the module's first top-level assignment to that name is
dropped so the flag value wins. With ``FLAGS_DEST=global:NAME`` the values
are set in the dict ``NAME`` (dotted names for nested keys) right after the
script first assigns it. Otherwise the arguments reach the script's own
``sys.argv`` unchanged (argparse and Click scripts).
"""

import os
import sys

import _ast  # the C module: ``ast`` (and the ``enum`` it imports) would cost as much as Python's own start

# Not typing.TYPE_CHECKING: importing typing would cost every run's start-up (mypy
# reads a module-level TYPE_CHECKING constant the same way). No ``from __future__``
# import either (it is a module to load): annotations that name these are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast
    from collections.abc import Callable

_ModuleType = type(sys)


def _parse(path: str) -> "ast.Module":
    """The script's syntax tree (``compile`` with ``PyCF_ONLY_AST``: no ``ast`` module needed)."""
    with open(path, "rb") as f:
        return compile(f.read(), path, "exec", _ast.PyCF_ONLY_AST)  # type: ignore[return-value]


def _find_module(name: str) -> str:
    rel = name.replace(".", os.sep) + ".py"
    # --debug-sourcecode: the project's own files come before the run's copy.
    debug = [p for p in os.environ.get("DEBUG_SOURCECODE", "").split(os.pathsep) if p]
    for base in debug + [os.getcwd()] + sys.path:
        candidate = os.path.join(base or ".", rel)
        if os.path.isfile(candidate):
            return candidate
    sys.stderr.write("guild: cannot find module %s\n" % name)
    raise SystemExit(1)


def _split_flag_args(args: "list[str]") -> "tuple[list[str], list[str]]":
    """``(script arguments, flag arguments)``: split at the last ``--``, as Guild splits.

    Without ``--`` every argument is a flag argument.
    """
    for i in range(len(args) - 1, -1, -1):
        if args[i] == "--":
            return args[:i], args[i + 1 :]
    return [], args


def _parse_globals(args: "list[str]") -> dict:
    flags = {}
    it = iter(args)
    for arg in it:
        if not arg.startswith("--"):
            continue
        raw = next(it, "null")
        flags[arg[2:]] = _decode_value(raw)
    return flags


_JSON_WORDS = {"true": True, "false": False, "null": None}


def _decode_value(raw: str) -> object:
    """A JSON-encoded flag value (the raw text when it is not JSON).

    Common shapes are decoded by hand: the ``json`` import would cost the
    script's start more than the rest of this module.
    """
    if raw in _JSON_WORDS:
        return _JSON_WORDS[raw]
    digits = raw[1:] if raw[:1] == "-" else raw
    whole, dot, frac = digits.partition(".")
    if whole.isascii() and whole.isdigit() and (whole == "0" or whole[0] != "0"):
        if not dot:
            return int(raw)
        if frac.isascii() and frac.isdigit():
            return float(raw)
    if (
        len(raw) >= 2
        and raw[0] == raw[-1] == '"'
        and '"' not in raw[1:-1]
        and "\\" not in raw
        and all(c >= " " for c in raw)
    ):
        return raw[1:-1]
    import json

    try:
        return json.loads(raw)
    except ValueError:
        return _date_or_text(raw)


def _date_or_text(raw: str) -> object:
    """An ISO date (``2024-01-02``) or date-time as Python's, as a YAML date flag reaches the script; else ``raw``."""
    if len(raw) >= 10 and raw[4:5] == "-" and raw[7:8] == "-" and raw[:4].isdigit():
        import datetime

        try:
            if len(raw) == 10:
                return datetime.date.fromisoformat(raw)
            return datetime.datetime.fromisoformat(raw)
        except ValueError:
            pass
    return raw


def _without_first_assigns(tree: "ast.Module", names: "set[str]") -> "ast.Module":
    remaining = set(names)
    body = []
    for node in tree.body:
        if (
            isinstance(node, _ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], _ast.Name)
            and node.targets[0].id in remaining
        ):
            remaining.discard(node.targets[0].id)
            continue
        body.append(node)
    tree.body = body
    return tree


def _set_dotted(target: dict, flags: dict) -> dict:
    """Set ``flags`` (dotted names for nested keys) in the dict ``target``; returns it."""
    for name, val in flags.items():
        node = target
        parts = name.split(".")
        if name in node:
            node[name] = val
            continue
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = val
    return target


def _after_first_assign(tree: "ast.Module", name: str, hook: str) -> "ast.Module":
    """Insert ``name = hook(name)`` right after the first top-level assignment to ``name``."""
    import ast

    for i, node in enumerate(tree.body):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == name
        ):
            call = ast.parse("%s = %s(%s)" % (name, hook, name)).body[0]
            ast.copy_location(call, node)
            ast.fix_missing_locations(call)
            tree.body.insert(i + 1, call)
            break
    return tree


def main() -> None:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: python -m luigi_guild.op_main MODULE [ARG...]\n")
        raise SystemExit(2)
    module, args = sys.argv[1], sys.argv[2:]
    base_args, args = _split_flag_args(args)
    path = _find_module(module)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    dest = os.environ.get("FLAGS_DEST", "globals")
    if dest.startswith("global:"):
        flags = _parse_globals(args)
        hook = "__luigi_guild_flags__"
        code = compile(_after_first_assign(_parse(path), dest[len("global:") :], hook), path, "exec")
        sys.argv = [path] + base_args
        main_module = _ModuleType("__main__")
        main_module.__file__ = path
        main_module.__dict__[hook] = lambda target: _set_dotted(target, flags)
        sys.modules["__main__"] = main_module
        _run_user_code(lambda: exec(code, main_module.__dict__), path)
    elif dest == "globals":
        flags = _parse_globals(args)
        code = compile(_without_first_assigns(_parse(path), set(flags)), path, "exec")
        sys.argv = [path] + base_args
        main_module = _ModuleType("__main__")
        main_module.__file__ = path
        main_module.__dict__.update(flags)
        sys.modules["__main__"] = main_module
        _run_user_code(lambda: exec(code, main_module.__dict__), path)
    else:
        import runpy

        sys.argv = [path] + base_args + args
        _run_user_code(lambda: runpy.run_path(path, run_name="__main__"), path)


def _run_with_breaks(fn: "Callable[[], object]", path: str, locations: "list[str]") -> None:
    """``--break``: run the script under pdb with breakpoints at ``locations`` (LINE of the main
    module, FILE:LINE, or MODULE.FUNCTION); the debugger reads the run's stdin."""
    import pdb

    debugger = pdb.Pdb()
    for loc in locations:
        debugger.do_break("%s:%s" % (path, loc) if loc.isdigit() else loc)
    debugger.cmdqueue.append("continue")  # pdb stops on entry: go on to the first breakpoint
    import bdb

    try:
        debugger.runcall(fn)
    except bdb.BdbQuit:  # "quit" (or the end of stdin) in the debugger ends the run
        raise SystemExit(1) from None


def _run_user_code(fn: "Callable[[], object]", path: str) -> None:
    """Run the script; an uncaught error prints a traceback that starts in the script."""
    try:
        breaks = os.environ.get("PDB_BREAKS")
        if breaks:
            _run_with_breaks(fn, path, breaks.split())
        else:
            fn()
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        import traceback

        etype, value, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename != path:
            tb = tb.tb_next
        traceback.print_exception(etype, value, tb)
        sys.stderr.flush()
        if os.environ.get("BREAK_ON_ERROR") == "1" and tb is not None:
            import pdb  # --break-on-error: a post-mortem session at the error, driven by the run's stdin

            pdb.post_mortem(tb)
            sys.stdout.flush()
        os._exit(1)


if __name__ == "__main__":
    main()
