"""`dumps` must write what Node's `JSON.stringify(JSON.parse(text))` writes, byte for byte.

Every expected output below was first produced by Node 20; `test_table_agrees_with_node` keeps
checking that, and the property tests compare against a live Node process.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wahooks.serialization import dumps, dumps_built, is_canonical, loads

# (value, what JSON.stringify writes), one row per way orjson and JavaScript part.
NUMBERS = [
    (1.0, b"1"),
    (-2.0, b"-2"),
    (-0.0, b"0"),
    (0.1 + 0.2, b"0.30000000000000004"),
    (1e20, b"100000000000000000000"),
    (1e21, b"1e+21"),
    (-1.2345e22, b"-1.2345e+22"),
    (123456789012345680000.0, b"123456789012345680000"),
    (2.0**60, b"1152921504606847000"),
    (0.000001, b"0.000001"),
    (2.5e-5, b"0.000025"),
    (1e-7, b"1e-7"),
    (1.5e-7, b"1.5e-7"),
    (5e-324, b"5e-324"),
    (1.7976931348623157e308, b"1.7976931348623157e+308"),
    (2**53, b"9007199254740992"),
    (2**53 + 1, b"9007199254740992"),
    (-(2**53) - 1, b"-9007199254740992"),
    (2**63, b"9223372036854776000"),
    (-(2**63) - 1, b"-9223372036854776000"),
    (2**64, b"18446744073709552000"),
    (10**21, b"1e+21"),
    (2**1024 - 2**970 - 1, b"1.7976931348623157e+308"),  # still rounds down to the largest double
    (2**1024 - 2**970, b"null"),  # the halfway point rounds to Infinity
    (10**400, b"null"),
]
KEYS = [
    ({"b": 1, "2": 2, "a": 3, "1": 4}, b'{"1":4,"2":2,"b":1,"a":3}'),
    ({"a": 0, "10": 1, "9": 2, "0": 3}, b'{"0":3,"9":2,"10":1,"a":0}'),
    ({"a": 0, "4294967295": 1, "4294967294": 2}, b'{"4294967294":2,"a":0,"4294967295":1}'),
    (
        {"x": 0, "01": 1, "-1": 2, "1.0": 3, " 1": 4, "1 ": 5, "+1": 6, "00": 7, "\u0661": 8},
        b'{"x":0,"01":1,"-1":2,"1.0":3," 1":4,"1 ":5,"+1":6,"00":7,"\xd9\xa1":8}',
    ),
    ({"__proto__": {"7": 1, "a": 2}}, b'{"__proto__":{"7":1,"a":2}}'),
]
STRINGS = [
    ("a\ud800b", b'"a\\ud800b"'),
    ("\udfff\udbff", b'"\\udfff\\udbff"'),
    ("\ud83d\ude00", b'"\xf0\x9f\x98\x80"'),  # a pair is one character in UTF-16
    ("\ud83d\ud83d\ude00", b'"\\ud83d\xf0\x9f\x98\x80"'),
    ({"k\ud800": ["\ud800", 1.5]}, b'{"k\\ud800":["\\ud800",1.5]}'),
    ({"\ud83d\ude00": 1, "2": 2, "\U0001f600": 3}, b'{"2":2,"\xf0\x9f\x98\x80":3}'),
    ("olá 👋 你好 مرحبا", '"olá 👋 你好 مرحبا"'.encode()),
    (
        "\x00\x01\x07\x08\t\n\x0b\x0c\r\x0e\x1f",
        b'"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f"',
    ),
    ("\x7f\u2028\u2029\ufeff", b'"\x7f\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf"'),
    ("\"\\/<>&'", b'"\\"\\\\/<>&\'"'),
]
CONTAINERS = [
    ((1, (2.0, [3.5])), b"[1,[2,[3.5]]]"),
    (
        {"a": [], "b": {}, "c": None, "d": True, "e": False},
        b'{"a":[],"b":{},"c":null,"d":true,"e":false}',
    ),
]
TABLE = NUMBERS + KEYS + STRINGS + CONTAINERS

lone_surrogates = st.integers(0xD800, 0xDFFF).map(chr)
awkward_characters = st.sampled_from('\x00\x1f\x7f"\\/\u2028\u2029\ufeff\u00e9\u0661😀👋🏽你')
texts = st.text(st.one_of(st.characters(), lone_surrogates, awkward_characters), max_size=10)
keys = st.one_of(
    texts,
    st.integers(0, 2**32 + 2).map(str),
    st.sampled_from(
        ["0", "00", "01", "-0", "-1", "1.0", " 1", "4294967294", "4294967295", "__proto__"]
    ),
)
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**62), 2**62).map(float),
    st.builds("{}e{}".format, st.integers(-999, 999), st.integers(-330, 310))
    .map(float)
    .filter(math.isfinite),
    st.sampled_from([1e21, 9.999999999999999e20, 1e-7, 9.999999999999999e-8, 1e-6, -0.0]),
)
integers = st.one_of(
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.builds(lambda m, e: m * 10**e, st.integers(-(10**20), 10**20), st.integers(0, 320)),
    st.sampled_from(
        [2**53, 2**53 + 1, -(2**53) - 1, 2**64, 2**1024 - 2**970, 2**1024 - 2**970 - 1]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), integers, floats, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=6),
    ),
    max_leaves=25,
)

NODE_STRINGIFY = """
const lines = require("readline").createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let out;
  try { out = JSON.stringify(JSON.parse(line)); } catch (error) { out = "ERROR " + error; }
  process.stdout.write(out + "\\n");
});
"""


class Node:
    """A Node process answering `JSON.stringify(JSON.parse(line))` for each line it is sent."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    def stringify(self, value: object) -> bytes:
        """What Node writes for `value`, sent as a JSON text unlike the one `dumps` writes."""
        assert self._process.stdin is not None and self._process.stdout is not None
        # ensure_ascii spells every non-ASCII character, lone surrogates included, as \\u
        # escapes, and the standard library writes floats its own way, so Node parses a text
        # that has nothing of dumps' formatting in it.
        text = json.dumps(value, ensure_ascii=True, allow_nan=False)
        self._process.stdin.write(text.encode() + b"\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        assert answer.endswith(b"\n"), f"node stopped answering: {answer!r}"
        return answer[:-1]


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("node is not on PATH; these tests compare against real Node and must run")
    with subprocess.Popen(
        [executable, "-e", NODE_STRINGIFY], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as process:
        yield Node(process)
        assert process.stdin is not None
        process.stdin.close()
    assert process.returncode == 0


def js_value(value: object) -> object:
    """What a JavaScript program holds after JSON.parse of any text of `value`, comparably."""
    if value is None or isinstance(value, bool):
        return ("literal", value)  # so True and 1 stay apart
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return ("literal", None)
        return ("number", number) if math.isfinite(number) else ("literal", None)
    if isinstance(value, str):
        return ("string", utf16(value))
    if isinstance(value, list | tuple):
        return ("array", [js_value(item) for item in value])
    assert isinstance(value, dict)
    return ("object", {utf16(key): js_value(item) for key, item in value.items()})


def utf16(text: str) -> str:
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


@pytest.mark.parametrize(("value", "expected"), TABLE)
def test_writes_what_javascript_writes(value: object, expected: bytes) -> None:
    assert dumps(value) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_null(value: float) -> None:
    assert dumps([value]) == b"[null]"


def test_table_agrees_with_node(node: Node) -> None:
    assert [node.stringify(value) for value, _ in TABLE] == [expected for _, expected in TABLE]


def test_node_writes_null_for_non_finite_numbers() -> None:
    script = "process.stdout.write(JSON.stringify([NaN, Infinity, -Infinity]))"
    written = subprocess.run(["node", "-e", script], capture_output=True, check=True).stdout

    assert written == dumps([math.nan, math.inf, -math.inf]) == b"[null,null,null]"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_matches_node_byte_for_byte(node: Node, value: object) -> None:
    assert dumps(value) == node.stringify(value)


def test_waha_fixtures_match_node(node: Node, shared_dir: Path) -> None:
    paths = sorted((shared_dir / "fixtures" / "waha").glob("*.json"))
    values = [json.loads(path.read_bytes()) for path in paths]

    assert paths
    assert [dumps(value) for value in values] == [node.stringify(value) for value in values]


def test_the_original_wahooks_body_is_canonical(shared_dir: Path) -> None:
    example = shared_dir / "fixtures" / "wahooks" / "outgoing-signature.example.json"
    body: str = json.loads(example.read_text())["body"]

    assert is_canonical(body.encode())


built_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text().filter(lambda key: not (key[:1].isdigit() and key.isdigit())), children,
        max_size=4,
    ),
    max_leaves=20,
)


@given(value=built_values)
def test_a_value_built_without_floats_or_index_keys_is_written_as_dumps_writes_it(
    value: object,
) -> None:
    assert dumps_built(value) == dumps(value)


@pytest.mark.parametrize("value", [
    {"big": 2**53 + 1}, {"small": -(2**53) - 1}, ["\ud800"], {"text": "a\udc00b"},
])
def test_what_orjson_would_write_unlike_javascript_in_a_built_value_goes_through_dumps(
    value: object,
) -> None:
    assert dumps_built(value) == dumps(value)


@given(value=json_values)
def test_loads_gives_back_what_javascript_would_hold(value: object) -> None:
    assert js_value(loads(dumps(value))) == js_value(value)


@given(value=json_values)
def test_output_is_canonical_and_stable(value: object) -> None:
    written = dumps(value)

    assert is_canonical(written)
    assert dumps(loads(written)) == written


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1}',
        b'{\n  "a": 1\n}',
        b"1.0",
        b'{"b":1,"1":2}',
        b'"\\u00e9"',
        b'"\\/"',
        b"1E3",
        b"not json",
        b"NaN",
        b'{"a":1,}',
        b"\xef\xbb\xbf{}",
    ],
)
def test_non_canonical_text_is_recognised(raw: bytes) -> None:
    assert not is_canonical(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'"a\\ud800"', "a\ud800"),  # orjson alone refuses escaped lone surrogates
        (b"[1e400,-1e400]", [math.inf, -math.inf]),  # and numbers beyond the double range
        (b"18446744073709551616", 2**64),
        ('{"a":[1,2.5,"é"]}', {"a": [1, 2.5, "é"]}),
        (b'{"a":1,"a":2}', {"a": 2}),
    ],
)
def test_loads_accepts_what_json_parse_accepts(raw: bytes | str, expected: Any) -> None:
    assert loads(raw) == expected


@pytest.mark.parametrize(
    "raw", [b"NaN", b"[Infinity]", b"[1,]", b"\xff", b"\xef\xbb\xbf{}", b"'a'"]
)
def test_loads_refuses_what_json_parse_refuses(raw: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        loads(raw)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "a"}, "Dict key must be str"),
        ([1.5, {2: "a"}], "Dict key must be str"),
        ({"a\ud800": 1, 2: "a"}, "Dict key must be str"),
        ({"a": {1, 2}}, "not JSON serializable"),
    ],
)
def test_values_javascript_cannot_hold_are_refused(value: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        dumps(value)
