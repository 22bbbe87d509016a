"""Argo's ``{{...}}`` template substitution: simple tags and ``{{= }}`` expression tags."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ManifestError
from .expr import argo_text, evaluate_expr

__all__ = ["find_tags", "find_expressions", "substitute", "substitute_obj", "scope_variables"]


def _pieces(text: str, where: str | None) -> Iterator[tuple[str, str | None]]:
    """Yield ``(literal, tag)`` pairs; ``tag`` is the raw text between the braces.

    Like Argo's template engine (valyala/fasttemplate), a tag ends at the first ``}}`` after
    its ``{{``, and a ``{{`` without a closing ``}}`` is an error.
    """
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            yield text[pos:], None
            return
        end = text.find("}}", start + 2)
        if end < 0:
            raise ManifestError(f"cannot find end tag '}}}}' for the '{{{{' at offset {start} "
                                f"in {text!r}", where)
        yield text[pos:start], text[start + 2 : end]
        pos = end + 2


def find_tags(text: str, *, where: str | None = None) -> list[str]:
    """Names of the simple tags in ``text``, unique, in order of appearance.

    ``{{ inputs.parameters.x }}`` gives ``inputs.parameters.x``. Expression tags ``{{=...}}``
    are not included: see :func:`find_expressions`.

    Raises
    ------
    ManifestError
        A ``{{`` has no closing ``}}``.
    """
    names = [tag.strip() for _, tag in _pieces(text, where) if tag is not None
             and not tag.startswith("=")]
    return list(dict.fromkeys(names))


def find_expressions(text: str, *, where: str | None = None) -> list[str]:
    """Sources of the expression tags in ``text`` (``{{= a + 1 }}`` gives ``a + 1``), in order."""
    return [tag[1:].strip() for _, tag in _pieces(text, where) if tag is not None
            and tag.startswith("=")]


def scope_variables(scope: Mapping[str, Any]) -> dict[str, Any]:
    """Turn flat dotted scope keys into the nested variables of an expression.

    ``{"inputs.parameters.x": "1"}`` becomes ``{"inputs": {"parameters": {"x": "1"}}}``. As in
    Argo (``util/expand``), a key that is also the prefix of another key (``workflow.parameters``
    next to ``workflow.parameters.p``) is dropped in favour of the nested map. Names with ``-``
    stay as they are: expressions reach them with ``tasks['my-task']``.
    """
    prefixes = {key[:i] for key in scope for i, char in enumerate(key) if char == "."}
    root: dict[str, Any] = {}
    for key, value in scope.items():
        if key in prefixes:
            continue
        *parents, last = key.split(".")
        node = root
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return root


def _render_expression(source: str, variables: Mapping[str, Any], where: str | None) -> str:
    value = evaluate_expr(source, variables, where=where)
    if value is None:
        raise ManifestError(f"failed to evaluate expression '{source}': the result is nil", where)
    try:
        return argo_text(value)
    except ManifestError as exc:
        raise ManifestError(f"{exc.message} (expression '{source}')", where) from None


def substitute(
    text: str, scope: Mapping[str, Any], *, where: str | None = None, keep_unresolved: bool = False
) -> str:
    """Replace every ``{{name}}`` and ``{{=expr}}`` tag in ``text``, as Argo does.

    Parameters
    ----------
    text : str
        Text that may hold tags.
    scope : Mapping
        Flat dotted names (``inputs.parameters.x``, ``tasks.a.outputs.result``, ``item``,
        ``workflow.name``, ...) to their string values. A non-string value is written as
        :func:`nbflow.argo.expr.argo_text` renders it.
    where : str, optional
        Where the text is (e.g. ``"template train, args"``), for error messages.
    keep_unresolved : bool
        Leave a tag whose name ``scope`` lacks, or an expression that fails, as it is (Argo
        substitutes a pod's template this way: ``SubstituteParams`` with allowUnresolved).

    Returns
    -------
    str
        The text with every tag replaced; substitution is a single pass, so values that
        themselves contain ``{{`` are not expanded again.

    Raises
    ------
    ManifestError
        ``failed to resolve {{name}}`` for a name missing from ``scope``; an expression that
        fails or evaluates to nil; a ``{{`` without ``}}``.
    """
    if "{{" not in text:
        return text
    out: list[str] = []
    variables: dict[str, Any] | None = None
    for literal, tag in _pieces(text, where):
        out.append(literal)
        if tag is None:
            break
        if tag.startswith("="):
            if variables is None:
                variables = scope_variables(scope)
            try:
                out.append(_render_expression(tag[1:], variables, where))
            except ManifestError:
                if not keep_unresolved:
                    raise
                out.append("{{" + tag + "}}")
            continue
        name = tag.strip()
        if name not in scope:
            if keep_unresolved:
                out.append("{{" + tag + "}}")
                continue
            raise ManifestError(f"failed to resolve {{{{{tag}}}}}", where)
        value = scope[name]
        try:
            out.append(value if isinstance(value, str) else argo_text(value))
        except ManifestError:
            raise ManifestError(f"failed to resolve {{{{{tag}}}}} to string", where) from None
    return "".join(out)


def substitute_obj(
    obj: Any, scope: Mapping[str, Any], *, where: str | None = None, keep_unresolved: bool = False
) -> Any:
    """Apply :func:`substitute` to every string (keys too) in a JSON-like structure.

    Dicts, lists and tuples are rebuilt; other values are returned as they are.
    """
    def again(value: Any) -> Any:
        return substitute_obj(value, scope, where=where, keep_unresolved=keep_unresolved)

    if isinstance(obj, str):
        return substitute(obj, scope, where=where, keep_unresolved=keep_unresolved)
    if isinstance(obj, Mapping):
        return {again(k): again(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [again(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(again(v) for v in obj)
    return obj
