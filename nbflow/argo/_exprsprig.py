"""More of the sprig functions Argo offers in ``{{= }}`` expressions (``sprig.<name>``): base64,
dates (Go layouts), regular expressions, strings, lists, dictionaries, floats, hashes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ._exprfuncs import ExprError, go_json, go_str, is_num

__all__ = ["MORE_SPRIG", "go_date"]

# Go's reference-time layout elements, longest first, and what strftime calls them.
_LAYOUT = [
    ("January", "%B"), ("Monday", "%A"), ("2006", "%Y"), ("-07:00", "%:z"), ("-0700", "%z"),
    ("Z07:00", "Z%:z"), ("Jan", "%b"), ("Mon", "%a"), ("MST", "%Z"), (".000", ".%f3"),
    ("15", "%H"), ("06", "%y"), ("01", "%m"), ("02", "%d"), ("_2", "%e"), ("03", "%I"),
    ("04", "%M"), ("05", "%S"), ("PM", "%p"), ("pm", "%P"), ("1", "%-m"), ("2", "%-d"),
    ("3", "%-I"), ("4", "%-M"), ("5", "%-S"),
]


def _to_time(value: Any) -> datetime:
    """sprig's notion of a date: a time, or epoch seconds; anything else is now."""
    if is_num(value):
        return datetime.fromtimestamp(float(value), timezone.utc)
    return datetime.now(timezone.utc)


def go_date(layout: str, value: Any) -> str:
    """sprig's ``date``: format a time with a Go layout (``2006-01-02``)."""
    when = _to_time(value)
    out, pos = [], 0
    while pos < len(layout):
        for element, code in _LAYOUT:
            if layout.startswith(element, pos):
                out.append(_strftime(when, code))
                pos += len(element)
                break
        else:
            out.append(layout[pos])
            pos += 1
    return "".join(out)


def _strftime(when: datetime, code: str) -> str:
    if code == ".%f3":
        return f".{when.microsecond // 1000:03d}"
    if code.endswith("%:z"):
        z = when.strftime("%z")
        text = f"{z[:3]}:{z[3:]}" if z else "+00:00"
        return ("Z" if text == "+00:00" else text) if code.startswith("Z") else text
    if code.startswith("%-"):
        return str(int(when.strftime("%" + code[2:])))
    if code == "%e":
        return f"{when.day:2d}"
    return when.strftime(code)


def _b64dec(text: str) -> str:
    try:
        return base64.b64decode(str(text)).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError) as exc:
        return str(exc)  # sprig returns the error's text


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ExprError(f"invalid regular expression {pattern!r}: {exc}") from None


def _floats(*xs: Any) -> list[float]:
    out = []
    for x in xs:
        try:
            out.append(float(x))
        except (TypeError, ValueError):
            out.append(0.0)
    return out


def _dict(*kv: Any) -> dict[str, Any]:
    return {go_str(kv[i]): kv[i + 1] if i + 1 < len(kv) else "" for i in range(0, len(kv), 2)}


def _until_step(start: Any, stop: Any, step: Any) -> list[int]:
    a, b, s = int(start), int(stop), int(step)
    return list(range(a, b, s)) if s else []


MORE_SPRIG: dict[str, Callable[..., Any]] = {
    "b64enc": lambda s: base64.b64encode(go_str(s).encode()).decode(),
    "b64dec": _b64dec,
    "b32enc": lambda s: base64.b32encode(go_str(s).encode()).decode(),
    "date": go_date,
    "dateInZone": lambda layout, value, zone: go_date(layout, value),
    "now": lambda: datetime.now(timezone.utc).timestamp(),
    "unixEpoch": lambda value: str(int(_to_time(value).timestamp())),
    "regexMatch": lambda p, s: _regex(p).search(go_str(s)) is not None,
    "regexFind": lambda p, s: (m.group() if (m := _regex(p).search(go_str(s))) else ""),
    "regexFindAll": lambda p, s, n=-1: _regex(p).findall(go_str(s))[: None if n < 0 else n],
    "regexReplaceAll": lambda p, s, r: _regex(p).sub(re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", r),
                                                     go_str(s)),
    "regexReplaceAllLiteral": lambda p, s, r: _regex(p).sub(lambda _: r, go_str(s)),
    "regexSplit": lambda p, s, n=-1: _regex(p).split(go_str(s), 0 if n < 0 else max(n - 1, 0)),
    "substr": lambda a, b, s: go_str(s)[int(a): int(b) if int(b) >= 0 else None],
    "trunc": lambda n, s: go_str(s)[: int(n)] if int(n) >= 0 else go_str(s)[int(n):],
    "nospace": lambda s: re.sub(r"\s", "", go_str(s)),
    "cat": lambda *xs: " ".join(go_str(x) for x in xs if x is not None),
    "indent": lambda n, s: "\n".join(" " * int(n) + line for line in go_str(s).split("\n")),
    "nindent": lambda n, s: "\n" + "\n".join(" " * int(n) + ln for ln in go_str(s).split("\n")),
    "snakecase": lambda s: re.sub(r"(?<!^)(?=[A-Z])", "_", go_str(s)).lower().replace("-", "_"),
    "kebabcase": lambda s: re.sub(r"(?<!^)(?=[A-Z])", "-", go_str(s)).lower().replace("_", "-"),
    "camelcase": lambda s: "".join(w[:1].upper() + w[1:] for w in re.split(r"[_\s-]+", go_str(s))),
    "sha1sum": lambda s: hashlib.sha1(go_str(s).encode()).hexdigest(),
    "sha256sum": lambda s: hashlib.sha256(go_str(s).encode()).hexdigest(),
    "adler32sum": lambda s: str(zlib.adler32(go_str(s).encode())),
    "toStrings": lambda xs: [go_str(x) for x in (xs or [])],
    "toPrettyJson": lambda v: __import__("json").dumps(__import__("json").loads(go_json(v)),
                                                       indent=2),
    "fromJson": lambda s: __import__("json").loads(s) if s else None,
    "dict": _dict,
    "get": lambda d, k: (d or {}).get(k, ""),
    "hasKey": lambda d, k: k in (d or {}),
    "pick": lambda d, *ks: {k: v for k, v in (d or {}).items() if k in ks},
    "omit": lambda d, *ks: {k: v for k, v in (d or {}).items() if k not in ks},
    "keys": lambda *ds: [k for d in ds for k in (d or {})],
    "values": lambda d: list((d or {}).values()),
    "append": lambda xs, x: [*(xs or []), x],
    "prepend": lambda xs, x: [x, *(xs or [])],
    "concat": lambda *xss: [x for xs in xss for x in (xs or [])],
    "reverse": lambda xs: list(reversed(xs or [])),
    "uniq": lambda xs: [x for i, x in enumerate(xs or []) if x not in (xs or [])[:i]],
    "without": lambda xs, *drop: [x for x in (xs or []) if x not in drop],
    "has": lambda x, xs: x in (xs or []),
    "rest": lambda xs: list(xs or [])[1:],
    "initial": lambda xs: list(xs or [])[:-1],
    "compact": lambda xs: [x for x in (xs or []) if x not in (None, "", 0, False, [], {})],
    "until": lambda n: list(range(int(n))),
    "untilStep": _until_step,
    "seq": lambda *xs: " ".join(str(i) for i in range(int(xs[0]), int(xs[-1]) + 1)) if xs else "",
    "floor": lambda x: float(math.floor(_floats(x)[0])),
    "ceil": lambda x: float(math.ceil(_floats(x)[0])),
    "round": lambda x, n=0, r=0.5: round(_floats(x)[0], int(n)),
    "addf": lambda *xs: sum(_floats(*xs)),
    "add1f": lambda x: _floats(x)[0] + 1,
    "subf": lambda a, *xs: _floats(a)[0] - sum(_floats(*xs)),
    "mulf": lambda a, *xs: math.prod(_floats(a, *xs)),
    "divf": lambda a, *xs: _floats(a)[0] / math.prod(_floats(*xs)) if xs else _floats(a)[0],
    "maxf": lambda *xs: max(_floats(*xs)),
    "minf": lambda *xs: min(_floats(*xs)),
    "ternary": lambda yes, no, cond: yes if cond else no,
    "coalesce": lambda *xs: next((x for x in xs if x not in (None, "", 0, False, [], {})), None),
    "all": lambda *xs: all(x not in (None, "", 0, False, [], {}) for x in xs),
    "any": lambda *xs: any(x not in (None, "", 0, False, [], {}) for x in xs),
}
