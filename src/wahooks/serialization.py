"""JSON written exactly the way JavaScript's `JSON.stringify` writes it.

Every delivery is signed over its body bytes, and the product page shows two receivers that must
both verify it. The Flask one signs the raw body; the Express one lets `express.json()` parse the
body and then signs `JSON.stringify(req.body)`, a fresh serialisation. Both agree only when the
bytes we send are already what `JSON.stringify(JSON.parse(body))` produces, so `dumps` writes that
form and nothing else.

orjson already writes compact UTF-8 with non-ASCII characters unescaped and escapes control
characters the way V8 does (`\\b \\t \\n \\f \\r`, the rest as lower-case `\\u00xx`; DEL, U+2028 and
U+2029 raw). Where it differs from Node 20, this module steps in:

* numbers: JavaScript has only doubles. Integral floats lose their ".0", `-0` prints as "0",
  exponent form starts at 1e21 and below 1e-6 ("1e+21", "1.5e-7"), NaN and the infinities print
  as `null`. Integers beyond 2**53 become the nearest double printed in that notation
  (2**64 -> 18446744073709552000), or `null` once they exceed the double range.
* object keys: keys that are array indices ("0" .. "4294967294", written canonically) come first in
  ascending numeric order, then the remaining keys in insertion order.
* strings holding lone surrogates: orjson refuses them; JavaScript writes them as lower-case
  `\\udxxx` escapes (and a high/low pair is one astral character, as it is in UTF-16).

`dumps` first walks the value once without allocating; when nothing above applies, which is the
normal shape of a WhatsApp event, the value goes to orjson untouched. Only values that need it are
rebuilt, with the JavaScript text of a number or string embedded as an `orjson.Fragment`.
"""

from __future__ import annotations

import json
import math
import re
from typing import NoReturn, cast

import orjson

__all__ = ["dumps", "dumps_built", "is_canonical", "loads"]

_MAX_SAFE_INTEGER = 2**53
_MAX_ARRAY_INDEX = 2**32 - 2
_DIGITS = frozenset("0123456789")
_PLAIN_SCALARS = frozenset({str, bool, type(None)})
_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: object) -> bytes:
    """Serialise `value` to the UTF-8 bytes `JSON.stringify(JSON.parse(text))` gives in Node.

    `value` is made of dicts with str keys, lists, tuples, str, int, float, bool and None;
    anything else raises TypeError, as does nesting deeper than 254 levels (orjson's limit;
    JSON.stringify goes deeper).
    """
    try:
        if _is_js_ready(value):
            return orjson.dumps(value)
        return orjson.dumps(_to_js(value, escape_surrogates=False))
    except TypeError:
        # orjson refuses lone surrogates, and they are rare enough that its refusal is the
        # cheapest way to find them. Whatever else it refused (a non-str key, an unsupported
        # type) fails again here with the same message.
        return orjson.dumps(_to_js(value, escape_surrogates=True))


def dumps_built(value: object) -> bytes:
    """`dumps` for a value whose shape wahooks built itself: no floats, and no object key that
    is an array index (its keys are field names). Of what `dumps` checks, only its integers and
    strings can then differ from JavaScript's, and orjson refuses both kinds (an integer beyond
    2**53 under OPT_STRICT_INTEGER, a lone surrogate always), so the walk over the value that
    `dumps` makes first is skipped (it cost the sandbox's events 7% of their ingest).
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except TypeError:
        return dumps(value)


def loads(data: bytes | str) -> object:
    """Parse JSON text into Python values, accepting everything `JSON.parse` accepts."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        # orjson rejects two kinds of valid JSON that JSON.parse takes: escaped lone surrogates
        # (WhatsApp text cut in the middle of an emoji) and numbers beyond the double range.
        try:
            return _loads_like_javascript(data)
        except (ValueError, RecursionError):
            raise error from None


def is_canonical(raw: bytes) -> bool:
    """True when `raw` is exactly what `JSON.stringify(JSON.parse(raw))` returns.

    Such bytes can be delivered as they are. Text that is not JSON, or that `dumps` cannot
    write, is not canonical.
    """
    try:
        return dumps(loads(raw)) == raw
    except (ValueError, TypeError):
        return False


def _is_js_ready(value: object) -> bool:
    """True when orjson would already write `value` the way JavaScript does."""
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or (key[:1] in _DIGITS and _is_array_index(key)):
                return False
            if type(item) not in _PLAIN_SCALARS and not _is_js_ready(item):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        for item in value:
            if type(item) not in _PLAIN_SCALARS and not _is_js_ready(item):
                return False
        return True
    if type(value) is int:
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    return type(value) in _PLAIN_SCALARS


def _to_js(value: object, *, escape_surrogates: bool) -> object:
    """A copy of `value` that orjson writes as JavaScript would."""
    if isinstance(value, str):
        if escape_surrogates and _SURROGATE.search(value):
            return orjson.Fragment(_js_string(value))
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return value
        return orjson.Fragment(_js_integer(value))
    if isinstance(value, float):
        return orjson.Fragment(_js_number(value))
    if isinstance(value, dict):
        return _js_object(value, escape_surrogates=escape_surrogates)
    if isinstance(value, list | tuple):
        return [_to_js(item, escape_surrogates=escape_surrogates) for item in value]
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _js_object(obj: dict[object, object], *, escape_surrogates: bool) -> object:
    """The object in JavaScript's key order, its values converted."""
    members = _with_str_keys(obj)
    by_hand = escape_surrogates and any(_SURROGATE.search(key) for key in members)
    if by_hand:
        members = _merge_equal_keys(members)
    converted = _in_javascript_order(
        {key: _to_js(item, escape_surrogates=escape_surrogates) for key, item in members.items()}
    )
    if by_hand:
        # A dict key cannot be a Fragment, so this object is written here.
        written = (_js_string(key) + b":" + orjson.dumps(item) for key, item in converted.items())
        return orjson.Fragment(b"{" + b",".join(written) + b"}")
    return converted


def _with_str_keys(obj: dict[object, object]) -> dict[str, object]:
    if not all(type(key) is str for key in obj):
        raise TypeError("Dict key must be str")  # orjson's words, so both paths fail alike
    return cast("dict[str, object]", obj)


def _in_javascript_order(obj: dict[str, object]) -> dict[str, object]:
    """Array-index keys first in ascending numeric order, then the rest in insertion order."""
    indices = sorted((int(key), key) for key in obj if _is_array_index(key))
    if not indices:
        return obj
    ordered = {key: obj[key] for _, key in indices}
    ordered.update(obj)  # keys already placed keep their place, the others follow in order
    return ordered


def _merge_equal_keys(obj: dict[str, object]) -> dict[str, object]:
    """Join keys that are one string in UTF-16, as JSON.parse joins duplicate keys.

    "\\ud83d\\ude00" and "\\U0001f600" are different Python keys but the same JavaScript
    key; the first keeps its place and the last one's value wins.
    """
    merged: dict[str, object] = {}
    for key, item in obj.items():
        merged[_join_surrogate_pairs(key)] = item
    return merged


def _is_array_index(key: str) -> bool:
    """True for the canonical decimal form of an integer in 0 .. 2**32 - 2."""
    if not key.isascii() or not key.isdigit():
        return False
    return (key == "0" or key[0] != "0") and int(key) <= _MAX_ARRAY_INDEX


def _js_string(text: str) -> bytes:
    """A string literal as JSON.stringify writes it, lone surrogates escaped."""
    # The standard library escapes quotes, backslashes and control characters exactly as V8
    # does and, unlike orjson, lets surrogates through so they can be escaped here.
    literal = json.dumps(_join_surrogate_pairs(text), ensure_ascii=False)
    return _SURROGATE.sub(_escape_surrogate, literal).encode()


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def _join_surrogate_pairs(text: str) -> str:
    """Turn each high/low surrogate pair into its astral character, as UTF-16 reads it."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _js_integer(number: int) -> bytes:
    """An integer as JavaScript prints it after parsing it to the nearest double."""
    try:
        return _js_number(float(number))
    except OverflowError:
        return b"null"


def _js_number(number: float) -> bytes:
    """`Number.prototype.toString()` for a double; JSON.stringify writes non-finite as null."""
    if not math.isfinite(number):
        return b"null"
    if number == 0:
        return b"0"  # -0 as well
    if number.is_integer() and abs(number) < _MAX_SAFE_INTEGER:
        return b"%d" % number
    # repr gives the shortest digits that round-trip, the same digits V8 picks; only the
    # placement of the decimal point and exponent differs.
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = whole + fraction
    digits = all_digits.lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(all_digits) - len(digits))
    digits = digits.rstrip("0")
    sign = "-" if number < 0 else ""
    return (sign + _place_point(digits, point)).encode()


def _place_point(digits: str, point: int) -> str:
    """Write digits d1..dk with value 0.d1..dk * 10**point as ECMAScript Number::toString does."""
    count = len(digits)
    if count <= point <= 21:
        return digits + "0" * (point - count)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    exponent = point - 1
    mantissa = digits if count == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"


def _loads_like_javascript(data: bytes | str) -> object:
    """The standard library parser, held to what JSON.parse accepts."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> NoReturn:
    # json.loads takes NaN and Infinity literals, JSON.parse does not.
    raise ValueError(f"{name} is not valid JSON")
