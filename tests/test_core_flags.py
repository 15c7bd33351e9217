"""Flag parsing, coercion, labels and script flag import."""

from __future__ import annotations

import ast

import pytest

from luigi_guild.model import flagid, flags
from luigi_guild.model.errors import GuildError
from luigi_guild.model.flags import FlagDef
from luigi_guild.project.scripts import global_flags


def test_parse_assigns_splits_on_first_equals():
    assert flags.parse_assigns(["x=1", "msg=a=b", "e="]) == {"x": "1", "msg": "a=b", "e": ""}


@pytest.mark.parametrize("arg", ["x", "=1"])
def test_parse_assigns_rejects_missing_name_or_equals(arg):
    with pytest.raises(GuildError, match="expected NAME=VAL"):
        flags.parse_assigns([arg])


@pytest.mark.parametrize(
    "raw, expected",
    [("1", 1), ("1.5", 1.5), ("1e3", 1000.0), ("yes", True), ("no", False), ("abc", "abc"),
     ("[1, 2]", [1, 2]), ("1_000", "1_000"), ("12:30", "12:30"), ("", "")],
)
def test_decode_untyped(raw, expected):
    val = flags.decode_untyped(raw)
    assert val == expected and type(val) is type(expected)


def test_number_type_keeps_int_and_float_apart():
    fd = FlagDef("x", type="number")
    assert flags.decode_flag_val("10", fd) == 10 and isinstance(flags.decode_flag_val("10", fd), int)
    assert isinstance(flags.decode_flag_val("2.0", fd), float)


def test_number_type_rejects_text():
    with pytest.raises(GuildError, match="invalid value abc for x"):
        flags.decode_flag_val("abc", FlagDef("x", type="number"))


def test_string_type_keeps_numeric_looking_text():
    assert flags.decode_flag_val("1", FlagDef("z", type="string")) == "1"


def test_list_value_decodes_items_by_type():
    assert flags.decode_flag_val("[1, 2.5]", FlagDef("x", type="float")) == [1.0, 2.5]


def test_resolve_flags_rejects_unknown_flag_unless_forced():
    defs = {"x": FlagDef("x", type="number", default=1.0)}
    with pytest.raises(GuildError, match="unsupported flag 'w'"):
        flags.resolve_flags(defs, {"w": "1"}, op_name="echo.py")
    assert flags.resolve_flags(defs, {"w": "1"}, force_flags=True) == {"w": 1, "x": 1.0}


def test_choices_and_range_are_checked():
    defs = {"z": FlagDef("z", choices=["a", "b"]), "n": FlagDef("n", type="int", min=0, max=3)}
    with pytest.raises(GuildError, match="allowed values are a, b"):
        flags.resolve_flags(defs, {"z": "c"})
    with pytest.raises(GuildError, match="greater than max"):
        flags.resolve_flags(defs, {"n": "4"})


def test_default_label_sorted_and_formatted():
    assert flags.default_label({"z": "a", "x": 1.0, "y": 2}) == "x=1.0 y=2 z=a"
    assert flags.default_label({"msg": "Hello Guild!", "b": True, "n": None}) == "b=yes msg='Hello Guild!'"
    assert flags.default_label({"f": 0.123456789}) == "f=0.12346"


def test_render_label_template():
    assert flags.render_label("x=${x|%.2f} ${default_label}", {"x": 1.0}) == "x=1.00 x=1.0"


def test_param_text_tells_one_from_true():
    assert flagid.param_text({"a": 1}) != flagid.param_text({"a": True})
    assert flagid.param_text({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_global_flags_first_literal_assignment_wins():
    tree = ast.parse("x = 1.0\ny = 2\nz = 'a'\n_p = 1\nx = 5\nw = foo()\nn = -3\nb = True\n")
    defs = global_flags(tree)
    assert list(defs) == ["b", "n", "x", "y", "z"]
    assert (defs["x"].default, defs["x"].type) == (1.0, "number")
    assert (defs["z"].type, defs["b"].type, defs["n"].default) == ("string", "boolean", -3)
