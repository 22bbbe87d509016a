"""Go-compatible value formatting and the functions Argo offers in ``{{= }}`` expressions."""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any


class ExprError(Exception):
    """An expression failed; the public functions turn it into a ``ManifestError``."""


#: Go's ordering operators on two numbers or two strings.
ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


def is_num(v: Any) -> bool:
    """Whether ``v`` is an int or float (bool excluded, as in Go)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def go_type(v: Any) -> str:
    """Go's name for the type of a JSON-like value, for error messages."""
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float64"), (str, "string")):
        if isinstance(v, kind):
            return name
    if v is None:
        return "nil"
    return "[]interface {}" if isinstance(v, (list, tuple)) else "map[string]interface {}"


def go_float(f: float, *, for_json: bool = False) -> str:
    """Format a float as Go's ``%v`` does, or as ``encoding/json`` does if ``for_json``."""
    if math.isnan(f) or math.isinf(f):
        if for_json:
            raise ExprError(f"json: unsupported value: {f}")
        return "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    _, digit_tuple, exponent = Decimal(repr(abs(f))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # position of the decimal point in ``digits``
    exp = point - 1
    # encoding/json switches to exponents outside [1e-6, 1e21); %v outside [1e-4, 1e6).
    use_e = (abs(f) < 1e-6 or abs(f) >= 1e21) if for_json else (exp < -4 or exp >= 6)
    sign = "-" if f < 0 else ""
    if use_e:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        width = 1 if for_json else 2  # json trims "e-07" to "e-7"; %v keeps two digits
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):0{width}d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_str(v: Any) -> str:
    """Format a value as Go's ``fmt.Sprintf("%v", v)`` does."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_str(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def float_arith(op: str, a: float, b: float) -> float:
    """Go float64 arithmetic: division by zero gives an infinity or NaN, not an exception."""
    if op in ("/", "%") and b == 0:
        if op == "%" or a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    if op in ("**", "^"):
        try:
            return math.pow(a, b)
        except OverflowError:
            return math.inf
        except ValueError:
            return math.nan
    funcs: dict[str, Callable[[float, float], float]] = {
        "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
        "%": math.fmod}
    return funcs[op](a, b)


def regex_match(text: Any, pattern: Any) -> bool:
    """Go's ``regexp.MatchString``: whether ``pattern`` matches anywhere in ``text``."""
    if not isinstance(text, str) or not isinstance(pattern, str):
        bad = text if not isinstance(text, str) else pattern
        raise ExprError(f"Value '{go_str(bad)}' cannot be used with a regex operator, "
                        "it is not a string")
    try:
        return re.search(pattern, text) is not None
    except re.error as exc:
        raise ExprError(f"invalid regular expression '{pattern}': {exc}") from None


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                 "\u2029": "\\u2029"}


def go_json(v: Any) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes it: sorted keys, HTML-safe strings."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v, for_json=True)
    if isinstance(v, str):
        text = json.dumps(v, ensure_ascii=False)
        return re.sub("[<>&\u2028\u2029]", lambda m: _HTML_ESCAPES[m.group()], text)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{go_json(str(k))}:{go_json(v[k])}" for k in sorted(v)) + "}"
    raise ExprError(f"json: unsupported type {type(v).__name__}")


def to_int(v: Any) -> int:
    """expr-lang's ``int()`` (Argo's ``asInt``): strings must be plain integers."""
    if is_num(v):
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v):
        return int(v)
    raise ExprError(f"invalid operation: int({v if isinstance(v, str) else go_type(v)})")


def to_float(v: Any) -> float:
    """expr-lang's ``float()`` (Argo's ``asFloat``)."""
    if is_num(v):
        return float(v)
    if isinstance(v, str) and "_" not in v and v.strip() == v:  # Go's ParseFloat is stricter
        try:
            return float(v)
        except ValueError:
            pass
    raise ExprError(f"invalid operation: float({v if isinstance(v, str) else go_type(v)})")


def jsonpath(text: str, path: str) -> Any:
    """Argo's ``jsonpath(json, path)`` (see :mod:`._jsonpath`)."""
    from ._jsonpath import query

    try:
        value = json.loads(text, parse_int=float)  # Go decodes every JSON number to float64
    except (TypeError, ValueError) as exc:
        raise ExprError(f"jsonpath: invalid JSON: {exc}") from None
    return query(value, path)


def _cast_int64(v: Any) -> int:
    """sprig's ``toInt64`` (spf13/cast): invalid input becomes 0."""
    if isinstance(v, bool):
        return int(v)
    if is_num(v):
        return int(v)
    if isinstance(v, str):
        s = re.sub(r"\.0*$", "", v.strip())
        try:
            return int(s, 0)
        except ValueError:
            return 0
    return 0


def _empty(v: Any) -> bool:
    """sprig's notion of an empty value (for ``default``)."""
    return v is None or v is False or (is_num(v) and v == 0) or (
        isinstance(v, (str, list, tuple, dict)) and len(v) == 0)


def _strslice(v: Any) -> list[str]:
    if isinstance(v, (list, tuple)):
        return [go_str(x) for x in v if x is not None]
    return [] if v is None else [go_str(v)]


def _sprig_div(a: Any, b: Any) -> int:
    x, y = _cast_int64(a), _cast_int64(b)
    if y == 0:
        raise ExprError("integer divide by zero")
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q  # Go truncates towards zero


def _atoi(v: Any) -> int:
    return int(v) if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v) else 0


SPRIG: dict[str, Callable[..., Any]] = {
    "trim": lambda s: str(s).strip(),
    "trimAll": lambda cut, s: str(s).strip(cut),
    "trimPrefix": lambda p, s: s[len(p):] if s.startswith(p) else s,
    "trimSuffix": lambda p, s: s[: len(s) - len(p)] if p and s.endswith(p) else s,
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "title": lambda s: re.sub(r"\b[a-z]", lambda m: m.group().upper(), str(s)),
    "replace": lambda old, new, s: str(s).replace(old, new),
    "repeat": lambda n, s: str(s) * _cast_int64(n),
    "quote": lambda *xs: " ".join(json.dumps(go_str(x)) for x in xs if x is not None),
    "squote": lambda *xs: " ".join(f"'{go_str(x)}'" for x in xs if x is not None),
    "toString": go_str,
    "default": lambda d, *given: d if not given or _empty(given[0]) else given[0],
    "empty": _empty,
    "contains": lambda sub, s: str(sub) in str(s),
    "hasPrefix": lambda p, s: str(s).startswith(p),
    "hasSuffix": lambda p, s: str(s).endswith(p),
    "add": lambda *xs: sum(_cast_int64(x) for x in xs),
    "add1": lambda x: _cast_int64(x) + 1,
    "sub": lambda a, b: _cast_int64(a) - _cast_int64(b),
    "mul": lambda a, *xs: math.prod([_cast_int64(a), *(_cast_int64(x) for x in xs)]),
    "div": _sprig_div,
    "max": lambda a, *xs: max([_cast_int64(a), *(_cast_int64(x) for x in xs)]),
    "min": lambda a, *xs: min([_cast_int64(a), *(_cast_int64(x) for x in xs)]),
    "list": lambda *xs: list(xs),
    "first": lambda xs: xs[0] if xs else None,
    "last": lambda xs: xs[-1] if xs else None,
    "join": lambda sep, v: str(sep).join(_strslice(v)),
    "splitList": lambda sep, s: str(s).split(sep) if sep else list(str(s)),
    "atoi": _atoi,
    "int": _cast_int64,
    "int64": _cast_int64,
    "float64": lambda v: float(v) if is_num(v) else to_float(v) if isinstance(v, str) else 0.0,
    "toJson": go_json,
}


def _length(v: Any) -> int:
    if isinstance(v, (str, list, tuple, dict)):
        return len(v)
    raise ExprError(f"invalid argument for len (type {go_type(v)})")


def _from_json(text: str) -> Any:
    try:
        return json.loads(text, parse_int=float)
    except (TypeError, ValueError) as exc:
        raise ExprError(f"fromJSON: {exc}") from None


BUILTINS: dict[str, Callable[..., Any]] = {
    "asInt": to_int,
    "int": to_int,
    "asFloat": to_float,
    "float": to_float,
    "string": go_str,
    "len": _length,
    "toJson": go_json,
    "toJSON": lambda v: json.dumps(json.loads(go_json(v)), indent=2, ensure_ascii=False),
    "fromJSON": _from_json,
    "jsonpath": jsonpath,
    "abs": lambda x: abs(x) if is_num(x) else to_float(x),
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "trim": lambda s, cut=None: str(s).strip(cut),
    "split": lambda s, sep: str(s).split(sep),
    "join": lambda xs, sep="": sep.join(go_str(x) for x in xs),
    "replace": lambda s, old, new: str(s).replace(old, new),
    "hasPrefix": lambda s, p: str(s).startswith(p),
    "hasSuffix": lambda s, p: str(s).endswith(p),
    "keys": lambda m: sorted(m),
    "values": lambda m: [m[k] for k in sorted(m)],
    "first": lambda xs: xs[0] if xs else None,
    "last": lambda xs: xs[-1] if xs else None,
    "max": lambda *xs: max(xs[0] if len(xs) == 1 else xs),
    "min": lambda *xs: min(xs[0] if len(xs) == 1 else xs),
}
