"""Property tests: flag values survive every encoding they go through; labels never crash."""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from luigi_guild.model import flags as flagslib
from luigi_guild import op_main
from luigi_guild.project import operations
from luigi_guild.model import opdef
from luigi_guild.model import yamlutil
from luigi_guild.model.flags import FlagDef

settings.register_profile("reliability", max_examples=300, deadline=None)
settings.load_profile("reliability")

texts = st.text(max_size=40)
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), floats, texts)
flag_values = st.one_of(scalars, st.lists(scalars, max_size=5))
flag_names = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="_-"), min_size=1, max_size=12)
flag_dicts = st.dictionaries(flag_names, flag_values, max_size=6)


def same(a, b) -> bool:
    """Equality that also tells int/float/bool apart and treats nan as equal to nan."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


# ----------------------------------------------------------- command-line form


@given(flag_values)
@example([1e16, float("inf"), float("-inf"), "yes", 1.5e-07])
@example(["\U0001f600", "a\nb", ";\r"])
@example("1_0")
def test_encode_arg_round_trips_through_decode_untyped(val):
    encoded = flagslib.encode_arg(val)
    assert same(flagslib.decode_untyped(encoded), val), encoded


@given(texts)
def test_encode_arg_keeps_strings_strings_for_string_flags(s):
    fd = FlagDef("s", type="string")
    assert flagslib.decode_flag_val(flagslib.encode_arg(s), fd) == s


@given(st.integers())
def test_ints_decode_as_ints_for_typed_flags(i):
    for ftype in ("int", "number"):
        assert same(flagslib.decode_flag_val(flagslib.encode_arg(i), FlagDef("n", type=ftype)), i)
    assert flagslib.decode_flag_val(str(i), FlagDef("n", type="float")) == float(i)


@given(st.floats(allow_nan=False))
def test_floats_decode_as_floats_for_typed_flags(f):
    for ftype in ("float", "number"):
        assert same(flagslib.decode_flag_val(flagslib.encode_arg(f), FlagDef("f", type=ftype)), f)


@given(st.booleans())
def test_booleans_decode_for_boolean_flags(b):
    assert flagslib.decode_flag_val(flagslib.encode_arg(b), FlagDef("b", type="boolean")) is b


@given(texts)
@example("1_0")
@example("1_000.5")
@example("1:30")
def test_decode_untyped_never_raises(s):
    val = flagslib.decode_untyped(s)
    assert val is None or isinstance(val, (str, int, float, bool, list))
    if "_" in s and not isinstance(val, (str, list)):
        raise AssertionError("a value with '_' decoded to a number: %r -> %r" % (s, val))


@given(st.dictionaries(flag_names, texts, max_size=5))
def test_parse_assigns_round_trips(assigns):
    args = ["%s=%s" % kv for kv in assigns.items()]
    assert flagslib.parse_assigns(args) == assigns


# ----------------------------------------------------------- op_main JSON protocol


def non_null(flags):
    """Null flags are not passed to the script (it keeps its own value), as in Guild."""
    return {k: v for k, v in flags.items() if v is not None}


@given(flag_dicts)
def test_globals_protocol_round_trips(flags):
    args = opdef.flag_args(flags, "globals")
    assert same(op_main._parse_globals(args), non_null(flags))


@given(flag_dicts)
def test_globals_protocol_through_build_cmd(flags):
    op_attr = {"op-cmd": {"cmd-args": ["python", "-um", "luigi_guild.op_main", "m", opdef.FLAG_ARGS_MARKER], "flags-dest": "globals"}}
    cmd = opdef.build_cmd(op_attr, flags)
    assert cmd[:4] == ["python", "-um", "luigi_guild.op_main", "m"]
    assert same(op_main._parse_globals(cmd[4:]), non_null(flags))


# ----------------------------------------------------------- YAML attrs

yaml_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=12,
)


@given(yaml_values)
def test_yaml_attr_round_trips(val):
    text = yamlutil.encode(val) + "\n"
    assert same(yamlutil.decode(text), val), text


@given(st.integers())
def test_yaml_ints_are_plain(i):
    assert yamlutil.encode(i) == str(i)
    assert yamlutil.decode(str(i) + "\n") == i


# Text built from the characters that decide how YAML reads a simple document.
_yaml_alphabet = st.sampled_from(list("abyYnNtTfFoOeE_-+./=: #'\"\n{}[]~0123456789") + ["\t", "²", "é"])
_yaml_words = st.sampled_from(
    ["yes", "No", "TRUE", "off", "null", "~", "nan", ".inf", "0x1F", "1_0", "1:30", "'y'", "'a: b'", "''", "'", ",@|$"]
)
yaml_texts = st.one_of(
    texts,
    st.text(alphabet=_yaml_alphabet, max_size=30),
    st.lists(st.one_of(_yaml_words, st.text(alphabet=_yaml_alphabet, max_size=6)), max_size=6).map("".join),
    st.lists(
        st.tuples(st.text(alphabet=_yaml_alphabet, min_size=1, max_size=6), st.text(alphabet=_yaml_alphabet, max_size=8)),
        max_size=4,
    ).map(lambda kvs: "".join("%s: %s\n" % kv for kv in kvs)),
    st.lists(st.tuples(_yaml_words, _yaml_words), min_size=1, max_size=3).map(
        lambda kvs: "".join("%s: %s\n" % kv for kv in kvs)
    ),
)


@given(yaml_texts)
@example("²")
@example("0123")
@example("-09")
@example("x: 1.0\ny: 2\nz: a\n")
@example("x=1.0 y=2 z=a")
@example("1.5e-05")
@example("1.e+3")
@example("a  b")
@example("yes: 1")
@example("x: 3750.0\n'y': 2\nz: a\n")
def test_yaml_fast_path_agrees_with_yaml(text):
    """Whenever decode skips the YAML parser it returns exactly what YAML would, and never where YAML errors."""
    import yaml

    try:
        expected = yaml.load(text, Loader=yamlutil.yaml_classes()[0])
    except yaml.YAMLError:
        expected = Exception
    try:
        got = yamlutil.decode(text)
    except yaml.YAMLError:
        got = Exception
    assert got is expected is Exception or same(got, expected), (text, got, expected)
    assert same(yamlutil.decode(text + "\n"), yamlutil.decode(text)) if got is not Exception else True


# ----------------------------------------------------------- labels


@given(flag_dicts)
def test_default_label_is_stable_and_order_independent(flags):
    label = flagslib.default_label(flags)
    assert label == flagslib.default_label(dict(reversed(list(flags.items()))))
    assert label == flagslib.default_label(flags)
    assert "\n" not in label
    names = [n for n in sorted(flags) if flags[n] is not None]
    for name in names:
        assert "%s=" % name in label


@given(st.text(max_size=30), flag_dicts)
def test_render_label_never_crashes(template, flags):
    out = flagslib.render_label(template, flags)
    assert out == flagslib.render_label(template, dict(reversed(list(flags.items()))))
    assert isinstance(out, str)


fmt_chars = st.sampled_from(["%", "d", "s", "f", ".", "2", "*", "(", ")", "c", "x", "e", "9", "-", "#", "r", "default:", "|"])


@given(st.lists(fmt_chars, max_size=8).map("".join), flag_values)
@example("%c", -1)
@example("%(k)s", "x")
def test_label_formats_never_crash(fmt, val):
    template = "${v|%s}" % fmt
    out = flagslib.render_label(template, {"v": val})
    assert isinstance(out, str)
    assert out == flagslib.render_label(template, {"v": val})


@given(flag_values)
def test_format_val_never_crashes(val):
    assert isinstance(flagslib.format_val(val), str)


# ----------------------------------------------------------- opref lines


@given(st.lists(st.sampled_from(list("ab '\"\\\t\r\n\x0b#é$") + ["''"]), max_size=16).map("".join))
@example("script:/p '' '' echo.py")
@example("a''b")
def test_opref_split_agrees_with_shlex(text):
    """The opref reader's word splitter gives what shlex.split gives, errors included."""
    import shlex

    from luigi_guild.model.opref import _split

    try:
        expected = shlex.split(text)
    except ValueError:
        expected = ValueError
    try:
        got = _split(text)
    except ValueError:
        got = ValueError
    assert got == expected, text


# ----------------------------------------------------------- YAML writing

_enc_text = st.one_of(
    texts,
    st.text(alphabet=_yaml_alphabet, max_size=20),
    st.lists(st.one_of(_yaml_words, st.sampled_from(["/usr/bin", "/a:/b", "/a b", "/", "/x: y", "/x:", "-um", "--x", "---", "--", "-", "-.inf", "- a"])), max_size=3).map("".join),
)
_enc_scalars = st.one_of(st.none(), st.booleans(), st.integers(), floats, _enc_text)
_enc_values = st.recursive(
    _enc_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_enc_text, children, max_size=4)),
    max_leaves=12,
)


@given(_enc_values)
@example({"PATH": "/a:/b", "IS_SANDBOX": "yes", "N": "1", "y": "n"})
@example(["/usr/bin/python", "-um", "'1.0'", '"a"'])
@example({"op-cmd": {"cmd-args": ["${python_exe}"], "cmd-env": {}}, "flags": []})
@example([1e-05, 1e16, -0.0, float("inf"), float("-inf")])
def test_yaml_writer_reads_back_as_written(val):
    """Every encoded value, fast path or not, loads back (by PyYAML and by decode) as the same value."""
    import yaml

    text = yamlutil.encode(val)
    assert same(yaml.load(text, Loader=yamlutil.yaml_classes()[0]), val), text
    assert same(yamlutil.decode(text + "\n"), val), text


@given(st.one_of(
    st.lists(st.sampled_from(list('0123456789-.eE+"\\ atrufnl\x01é') + ["NaN", "true", "null"]), max_size=8).map("".join),
    flag_values.map(lambda v: __import__("json").dumps(v)),
))
@example("012")
@example('"a"')
@example("-0.5")
def test_child_flag_values_decode_as_json(raw):
    """The script side reads each ``--name value`` as JSON (the raw text when not JSON), fast path or not."""
    import json

    from luigi_guild.op_main import _decode_value

    try:
        expected = json.loads(raw)
    except ValueError:
        expected = raw
    assert same(_decode_value(raw), expected), raw


# ----------------------------------------------------------- Guild's attr quoting


def _guild_writer(val):
    """Attr text as guildai 0.9 writes it: PyYAML's safe dump, with y/Y/n/N quoted (its strict mode)."""
    import re

    import yaml

    class Strict(yaml.SafeDumper):
        pass

    Strict.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))
    # guildai also resolves floats whose exponent has no sign, or no dot before it (1.0e3, 1e3).
    Strict.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+)$"),
        list("-+0123456789"),
    )
    text = yaml.dump(val, Dumper=Strict, default_flow_style=False, indent=2).strip()
    return text[:-4] if text.endswith("\n...") else text


ascii_texts = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
attr_shapes = st.one_of(
    ascii_texts,
    st.lists(ascii_texts, max_size=3),
    st.dictionaries(ascii_texts.filter(bool), st.one_of(ascii_texts, st.integers(), st.booleans()), max_size=3),
)


@given(attr_shapes)
@example("${python_exe}")
@example(["-um", "guild.op_main", "__flag_args__"])
@example({"dest": ".", "x": "y", "t": "1.0e3", "v": "1e-3", "w": "1e3", "d": "2020-01-01", "m": "<<", "e": "="})
def test_attr_quoting_matches_guild(val):
    """Strings are quoted exactly where guildai quotes them (plain, else single quotes)."""
    assert yamlutil.encode(val) == _guild_writer(val)
