"""Tokens and operator tables of the two expression dialects Argo uses.

``WHEN`` follows govaluate as Argo uses it for ``when`` (bare words are strings, numbers are
floats, ``in (a, b)`` lists); ``EXPR`` follows expr-lang (names, member access, calls, array and
map literals, ``and``/``or``/``not``, ``??``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._exprfuncs import ExprError


class Token(NamedTuple):
    """One lexical token; ``pos`` is its 0-based offset in the source."""

    kind: str  # num | str | name | ptr | op | end
    value: Any
    pos: int
    raw: str = ""


@dataclass(frozen=True)
class Dialect:
    """Lexical rules and operator tables of one expression language."""

    name: str
    token_re: re.Pattern[str]
    binary: dict[str, tuple[int, bool]]  # operator -> (precedence, right-associative)
    unary: dict[str, int]  # operator -> precedence its operand is parsed at
    word_ops: frozenset[str]
    expr_lang: bool  # postfix access, calls, literals, chained comparisons, strict ``??``


COMPARISONS = ("<", ">", "<=", ">=")
NEGATABLE = ("in", "matches", "contains", "startsWith", "endsWith")

EXPR = Dialect(
    name="expr",
    token_re=re.compile(
        r"""(?P<ws>\s+)
        |(?P<num>0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
          |\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?|\.\d[\d_]*(?:[eE][+-]?\d+)?)
        |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)
        |(?P<name>[A-Za-z_$][\w$]*)
        |(?P<ptr>\#[A-Za-z_]*)
        |(?P<op>\?\?|\?\.|\.\.|\|(?!\|)|==|!=|<=|>=|&&|\|\||\*\*|[-+*/%^!<>?:.,()\[\]{}])""",
        re.X | re.S,
    ),
    binary={
        **dict.fromkeys(("or", "||"), (10, False)),
        **dict.fromkeys(("and", "&&"), (15, False)),
        **dict.fromkeys(("==", "!=", *COMPARISONS, *NEGATABLE), (20, False)),
        "..": (25, False),
        **dict.fromkeys(("+", "-"), (30, False)),
        **dict.fromkeys(("*", "/", "%"), (60, False)),
        **dict.fromkeys(("**", "^"), (100, True)),
        "??": (500, False),
    },
    unary={"not": 50, "!": 50, "-": 90, "+": 90},
    word_ops=frozenset(("and", "or", "not", *NEGATABLE)),
    expr_lang=True,
)

WHEN = Dialect(
    name="when",
    token_re=re.compile(
        r"""(?P<ws>\s+)
        |(?P<num>0x[0-9a-fA-F]+|[\d.]+)
        |(?P<var>\[(?:[^\]\\]|\\.)*\])
        |(?P<name>[^\W\d_][\w.]*)
        |(?P<str>['"](?:[^'"\\]|\\.)*['"])
        |(?P<op>==|!=|>=|<=|=~|!~|&&|\|\||\*\*|\?\?|[-+*/%!<>?:,()])""",
        re.X | re.S,
    ),
    binary={
        "??": (1, False),
        "||": (2, False),
        "&&": (3, False),
        **dict.fromkeys(("==", "!=", *COMPARISONS, "=~", "!~", "in"), (4, False)),
        **dict.fromkeys(("+", "-"), (7, False)),
        **dict.fromkeys(("*", "/", "%"), (8, False)),
        "**": (9, False),
    },
    unary={"!": 10, "-": 10},
    word_ops=frozenset(("in", "IN")),
    expr_lang=False,
)

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
                   "\\": "\\", "'": "'", '"': '"'}


def _unescape(body: str) -> str:
    """Undo Go-style escapes in an expr-lang string literal."""

    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if len(esc) > 1:
            return chr(int(esc[1:], 16)) if esc[0] in "xuU" else chr(int(esc, 8))
        if esc in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[esc]
        raise ExprError(f"invalid escape sequence '\\{esc}' in string literal")

    return _ESCAPE.sub(one, body)


def _number(raw: str, dialect: Dialect, pos: int) -> int | float:
    if not dialect.expr_lang:  # govaluate: every number is a float64
        try:
            return float(int(raw, 16)) if raw.startswith("0x") else float(raw)
        except ValueError:
            raise ExprError(f"Unable to parse numeric value '{raw}' to float64") from None
    text = raw.replace("_", "")
    if text[:2].lower() in ("0x", "0b", "0o"):
        return int(text, 0)
    return float(text) if any(c in text for c in ".eE") else int(text)


def _token(kind: str, raw: str, dialect: Dialect, pos: int) -> Token:
    if kind == "num":
        return Token("num", _number(raw, dialect, pos), pos)
    if kind == "var":  # govaluate's [escaped name] is, like every bare name, a string
        return Token("str", re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.S), pos)
    if kind == "str":
        if not dialect.expr_lang:
            return Token("str", re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.S), pos)
        return Token("str", raw[1:-1] if raw[0] == "`" else _unescape(raw[1:-1]), pos)
    if kind == "name" and raw in dialect.word_ops:
        return Token("op", raw.lower() if raw == "IN" else raw, pos)
    return Token(kind, raw, pos)


def tokenize(text: str, dialect: Dialect) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = dialect.token_re.match(text, pos)
        if m is None:
            char = text[pos]
            if char in "'\"`":
                raise ExprError(f"Unclosed string literal at column {pos + 1}")
            if char == "[" and not dialect.expr_lang:
                raise ExprError(f"Unclosed parameter bracket at column {pos + 1}")
            raise ExprError(f"Invalid token: '{char}' at column {pos + 1}")
        if m.lastgroup != "ws":
            tokens.append(_token(str(m.lastgroup), m.group(), dialect, pos)._replace(raw=m.group()))
        pos = m.end()
    tokens.append(Token("end", None, len(text)))
    return tokens
