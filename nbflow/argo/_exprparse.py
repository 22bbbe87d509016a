"""Precedence-climbing parser shared by the ``when`` and ``{{= }}`` evaluators.

Nodes are tuples whose first item names the kind: ``lit``, ``name``, ``accessor``, ``unary``,
``binary``, ``cond``, ``member``, ``slice``, ``call``, ``list``, ``map``, ``pointer`` (``#``,
``#index``, ``#acc`` in a closure) and ``closure`` (the predicate of ``filter``, ``map``, ...).
"""

from __future__ import annotations

from typing import Any, NoReturn

from ._exprfuncs import ExprError
from ._exprlex import COMPARISONS, NEGATABLE, Dialect, Token, tokenize

#: expr-lang's builtins whose second argument is a closure: ``filter(xs, {# > 1})`` or
#: ``filter(xs, # > 1)``; ``.name`` in a closure is ``#.name``.
CLOSURE_FUNCS = frozenset(
    {"all", "none", "any", "one", "filter", "map", "count", "find", "findIndex", "findLast",
     "findLastIndex", "groupBy", "sortBy", "reduce", "sum", "mean", "median"}
)

Node = tuple[Any, ...]


class Parser:
    """Precedence-climbing parser over one dialect's tokens.

    Parameters
    ----------
    text : str
        The expression source.
    dialect : Dialect
        ``WHEN`` or ``EXPR``.
    """

    def __init__(self, text: str, dialect: Dialect) -> None:
        self.d = dialect
        self.toks = tokenize(text, dialect)
        self.i = 0
        self.closures = 0  # how deep in closures the parser is
        self.piped = False  # parsing the call after '|': its first argument is the piped value

    def parse(self) -> Node:
        """Parse the whole source into one node."""
        if self.peek().kind == "end":
            raise ExprError("empty expression")
        node = self.expression(0)
        if self.peek().kind != "end":
            self.unexpected()
        return node

    def peek(self, offset: int = 0) -> Token:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def is_op(self, value: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok.kind == "op" and tok.value == value

    def expect(self, value: str) -> Token:
        if not self.is_op(value):
            self.unexpected(f"expected '{value}'")
        return self.next()

    def unexpected(self, why: str = "") -> NoReturn:
        tok = self.peek()
        what = "end of expression" if tok.kind == "end" else f"token '{tok.raw}'"
        raise ExprError(f"unexpected {what} at column {tok.pos + 1}" + (f" ({why})" if why else ""))

    def expression(self, min_prec: int) -> Node:
        """Parse operators binding at least as tightly as ``min_prec``."""
        left = self.unary()
        prev = ""
        while True:
            op, negate = self._binary_op()
            if op is None or self.d.binary[op][0] < min_prec:
                break
            prec, right_assoc = self.d.binary[op]
            if negate:
                self.next()
            tok = self.next()
            if self.d.expr_lang and prev == "??" and op != "??":
                raise ExprError(f"operator ({op}) and coalesce expressions (??) cannot be mixed; "
                                f"wrap either in parentheses (column {tok.pos + 1})")
            if self.d.expr_lang and op in COMPARISONS:
                left = self._comparison(left, op, prec)
            else:
                left = ("binary", op, left, self.expression(prec if right_assoc else prec + 1))
            if negate:
                left = ("unary", "not", left)
            prev = op
        if min_prec == 0 and self.is_op("?"):
            left = self._conditional(left)
        if min_prec == 0 and self.d.expr_lang and self.is_op("|"):  # x | f(y) is f(x, y)
            self.next()
            self.piped = True
            call = self.postfix(self._name(self.next()))
            self.piped = False
            if call[0] != "call":
                self.unexpected("expected a call after '|'")
            left = ("call", call[1], [left, *call[2]])
        return left

    def _binary_op(self) -> tuple[str | None, bool]:
        tok = self.peek()
        if tok.kind != "op":
            return None, False
        if tok.value == "not" and self.d.expr_lang:
            after = self.peek(1)
            if after.kind == "op" and after.value in NEGATABLE:
                return after.value, True
        return (tok.value, False) if tok.value in self.d.binary else (None, False)

    def _comparison(self, left: Node, op: str, prec: int) -> Node:
        """expr-lang chains comparisons: ``1 < x < 3`` means ``1 < x && x < 3``."""
        root: Node | None = None
        while True:
            right = self.expression(prec + 1)
            cmp = ("binary", op, left, right)
            root = cmp if root is None else ("binary", "&&", root, cmp)
            left = right
            tok = self.peek()
            if not (tok.kind == "op" and tok.value in COMPARISONS):
                return root
            op = self.next().value

    def _conditional(self, cond: Node) -> Node:
        while self.is_op("?"):
            self.next()
            yes = self.expression(0)
            self.expect(":")
            cond = ("cond", cond, yes, self.expression(0))
        return cond

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.value in self.d.unary:
            self.next()
            return ("unary", tok.value, self.expression(self.d.unary[tok.value]))
        node = self.primary()
        return self.postfix(node) if self.d.expr_lang else node

    def primary(self) -> Node:
        tok = self.next()
        if tok.kind in ("num", "str"):
            return ("lit", tok.value)
        if tok.kind == "name":
            return self._name(tok)
        if tok.kind == "ptr":
            if not self.closures:
                raise ExprError(f"unexpected '{tok.raw}' outside a closure at column {tok.pos + 1}")
            return ("pointer", tok.value[1:])
        if tok.kind == "op" and tok.value == "." and self.closures and self.peek().kind == "name":
            return ("member", ("pointer", ""), ("lit", self.next().value), False)
        if tok.kind == "op" and tok.value == "(":
            node = self.expression(0)
            if not self.d.expr_lang and self.is_op(","):  # govaluate: (a, b) is a list
                items = [node]
                while self.is_op(","):
                    self.next()
                    items.append(self.expression(0))
                node = ("list", items)
            self.expect(")")
            return node
        if tok.kind == "op" and tok.value == "[" and self.d.expr_lang:
            return ("list", self._items("]"))
        if tok.kind == "op" and tok.value == "{" and self.d.expr_lang:
            return self._map()
        self.i -= 1
        self.unexpected()

    def _name(self, tok: Token) -> Node:
        word = tok.value
        if word in ("true", "false"):
            return ("lit", word == "true")
        if self.d.expr_lang:
            return ("lit", None) if word == "nil" else ("name", word)
        if "." not in word:  # Argo turns govaluate's unknown variables into strings
            return ("lit", word)
        if word.endswith("."):
            raise ExprError(f"Hanging accessor on token '{word}'")
        for part in word.split(".")[1:]:
            if part and part[0] != part[0].upper():
                raise ExprError(f"Unable to access unexported field '{part}' in token '{word}'")
        return ("accessor", word.split(".")[0], word)

    def postfix(self, node: Node) -> Node:
        """Member access ``.a`` / ``?.a``, index and slice ``[...]``, calls ``(...)``."""
        while self.peek().kind == "op":
            tok = self.peek()
            if tok.value in (".", "?.") and not self.is_op("[", 1):
                self.next()
                name = self.next()
                if name.kind not in ("name", "op") or not str(name.value).isidentifier():
                    self.i -= 1
                    self.unexpected("expected a name after '.'")
                node = ("member", node, ("lit", name.value), tok.value == "?.")
            elif tok.value == "[" or (tok.value == "?." and self.is_op("[", 1)):
                self.i += 2 if tok.value == "?." else 1
                node = self._index(node, tok.value == "?.")
            elif tok.value == "(":
                self.next()
                if node[0] == "name" and node[1] in CLOSURE_FUNCS:
                    node = ("call", node, self._closure_items(0 if self.piped else 1))
                    self.piped = False
                else:
                    node = ("call", node, self._items(")"))
            else:
                break
        return node

    def _index(self, node: Node, optional: bool) -> Node:
        low = None if self.is_op(":") else self.expression(0)
        if self.is_op(":"):
            self.next()
            high = None if self.is_op("]") else self.expression(0)
            self.expect("]")
            return ("slice", node, low, high)
        self.expect("]")
        return ("member", node, low, optional)

    def _items(self, close: str) -> list[Node]:
        items: list[Node] = []
        while not self.is_op(close):
            items.append(self.expression(0))
            if not self.is_op(close):
                self.expect(",")
        self.next()
        return items

    def _closure_items(self, position: int) -> list[Node]:
        """Arguments of a closure builtin: the one at ``position`` (the second, or the first
        after a pipe) is a closure (braces optional)."""
        items: list[Node] = []
        while not self.is_op(")"):
            if len(items) == position:
                self.closures += 1
                braced = self.is_op("{")
                if braced:
                    self.next()
                items.append(("closure", self.expression(0)))
                if braced:
                    self.expect("}")
                self.closures -= 1
            else:
                items.append(self.expression(0))
            if not self.is_op(")"):
                self.expect(",")
        self.next()
        return items

    def _map(self) -> Node:
        pairs: list[tuple[Node, Node]] = []
        while not self.is_op("}"):
            tok = self.next()
            if tok.kind in ("name", "str", "num"):
                key: Node = ("lit", tok.value)
            elif tok.kind == "op" and tok.value == "(":
                key = self.expression(0)
                self.expect(")")
            else:
                self.i -= 1
                self.unexpected("expected a map key")
            self.expect(":")
            pairs.append((key, self.expression(0)))
            if not self.is_op("}"):
                self.expect(",")
        self.next()
        return ("map", pairs)
