"""The ``guild`` console script: a click-free fast path for plain run listings and CSV comparisons.

``guild runs`` is the command people type most, so it should start about as
fast as Python does. Loading click costs more than listing 10,000 runs from
the index, so ``[-H PATH] runs [list] [-a] [-m...] [-n N]`` is parsed here,
and so is ``[-H PATH] compare --csv PATH`` (scripts call it over many runs);
anything else (help, other options, other commands) goes to the click CLI in
:mod:`luigi_guild.cli` unchanged, which also gives every error message.
"""

from __future__ import annotations

import sys


def _parse_runs_list(args: list[str]) -> tuple[str | None, dict] | None:
    """``(guild_home, options)`` when ``args`` is a plain runs listing, else None."""
    guild_home = None
    if args[:1] == ["-H"] and len(args) >= 2:
        guild_home, args = args[1], args[2:]
    if args[:1] != ["runs"]:
        return None
    args = args[1:]
    if args[:1] == ["list"]:
        args = args[1:]
    opts: dict = {"all_": False, "more": 0, "limit": None}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-a", "--all"):
            opts["all_"] = True
        elif arg == "--more" or (arg.startswith("-m") and arg[1:] == "m" * (len(arg) - 1)):
            opts["more"] += 1 if arg == "--more" else len(arg) - 1
        elif arg in ("-n", "--limit") and i + 1 < len(args) or arg.startswith("--limit="):
            if arg.startswith("--limit="):
                value = arg[len("--limit=") :]
            else:
                i += 1
                value = args[i]
            digits = value[1:] if value.startswith("-") else value
            if not (digits.isascii() and digits.isdigit()):
                return None
            opts["limit"] = int(value)
        else:
            return None
        i += 1
    if opts["limit"] is not None and (opts["all_"] or opts["limit"] <= 0):
        return None  # unusual combinations: the click command decides
    return guild_home, opts


def _parse_compare_csv(args: list[str]) -> tuple[str | None, str] | None:
    """``(guild_home, path)`` when ``args`` is ``[-H PATH] compare --csv PATH`` and nothing more, else None."""
    guild_home = None
    if args[:1] == ["-H"] and len(args) >= 2:
        guild_home, args = args[1], args[2:]
    if len(args) == 3 and args[:2] == ["compare", "--csv"]:
        path = args[2]
    elif len(args) == 2 and args[0] == "compare" and args[1].startswith("--csv="):
        path = args[1][len("--csv=") :]
    else:
        return None
    if not path or (path.startswith("-") and path != "-"):
        return None  # the click command decides
    return guild_home, path


def main(argv: list[str] | None = None) -> None:
    """Run ``guild``: a plain ``runs`` listing or ``compare --csv`` directly, everything else through click."""
    args = sys.argv[1:] if argv is None else list(argv)
    parsed = _parse_runs_list(args)
    if parsed is None:
        csv_parsed = _parse_compare_csv(args)
        if csv_parsed is not None:
            _compare_csv(*csv_parsed)
            return
        from luigi_guild.cli import main as click_main

        click_main(args)
        return
    guild_home, opts = parsed
    from luigi_guild import exits

    def listing() -> None:
        if guild_home:
            from luigi_guild.model import home

            home.set_guild_home(guild_home)
        from luigi_guild.commands.runs_list import list_runs_cmd

        list_runs_cmd(**opts)

    exits.run_main(listing)


def _compare_csv(guild_home: str | None, path: str) -> None:
    from luigi_guild import exits

    def compare() -> None:
        if guild_home:
            from luigi_guild.model import home

            home.set_guild_home(guild_home)
        from luigi_guild.commands.comparecsv import plain_csv

        plain_csv(path)

    exits.run_main(compare, quick_exit=True)
