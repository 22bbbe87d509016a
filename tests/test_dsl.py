"""Tests of the ``%%workflow`` language parser."""

from __future__ import annotations

import pytest

from nbflow.dsl import MAX_MAP_ITEMS, parse_workflow
from nbflow.errors import CycleError, SpecError
from nbflow.model import Task, Template, Workflow
from nbflow.model.check import check


def deps(body: str) -> dict[str, tuple[str, ...]]:
    return {t.name: t.depends for t in parse_workflow(body)}


def one(body: str) -> Task:
    (task,) = parse_workflow(body)
    return task


def fails(body: str, *, line_offset: int = 0) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_workflow(body, where="cell 3", line_offset=line_offset)
    assert info.value.where == "cell 3"
    return info.value


# ----------------------------------------------------------------------------- structure


def test_chain_gives_linear_dependencies_in_mention_order() -> None:
    tasks = parse_workflow("extract >> featurize >> train")
    assert [t.name for t in tasks] == ["extract", "featurize", "train"]
    assert [t.template for t in tasks] == ["extract", "featurize", "train"]
    assert [t.depends for t in tasks] == [(), ("extract",), ("featurize",)]


def test_single_task_statement() -> None:
    assert parse_workflow("extract") == (Task("extract", "extract", line=1, col=1),)


def test_fan_out_and_fan_in_lists() -> None:
    assert deps("a >> [b, c] >> d") == {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}


def test_diamond_over_several_statements() -> None:
    body = "a >> b\na >> c\nb >> d\nc >> d\n"
    assert deps(body) == {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}


def test_list_of_chains_connects_first_and_last_tasks() -> None:
    got = deps("a >> [b >> c, d] >> e")
    assert got == {"a": (), "b": ("a",), "c": ("b",), "d": ("a",), "e": ("c", "d")}


def test_list_to_list_is_all_pairs_and_lists_stand_alone() -> None:
    assert deps("[a, b] >> [c, d]") == {"a": (), "b": (), "c": ("a", "b"), "d": ("a", "b")}
    assert deps("[a, b]\n") == {"a": (), "b": ()}


def test_parenthesised_right_side_of_a_chain() -> None:
    assert deps("a >> (b >> c)") == {"a": (), "b": ("a",), "c": ("b",)}


def test_repeated_mentions_are_one_task_and_deps_accumulate_without_duplicates() -> None:
    body = "extract >> train\nclean >> train\nextract >> train\ntrain >> report"
    tasks = parse_workflow(body)
    assert [t.name for t in tasks] == ["extract", "train", "clean", "report"]
    assert tasks[1].depends == ("extract", "clean")
    assert tasks[3].depends == ("train",)


def test_comments_blank_lines_and_first_mention_position_with_offset() -> None:
    body = "# the nightly run\n\nextract >> train  # fit\n  \ntrain >> report\n"
    tasks = parse_workflow(body, line_offset=1)
    assert [(t.name, t.line, t.col) for t in tasks] == [
        ("extract", 4, 1),
        ("train", 4, 12),
        ("report", 6, 10),
    ]


def test_column_counts_characters_not_bytes() -> None:
    (_, task) = parse_workflow("données >> modèle")
    assert (task.name, task.col) == ("modèle", 12)


def test_names_of_builtins_are_just_template_names() -> None:
    tasks = parse_workflow("open >> eval(code='x') >> exit")
    assert [t.template for t in tasks] == ["open", "eval", "exit"]
    assert tasks[1].arguments == {"code": "x"}


# ----------------------------------------------------------------------------- options


def test_call_parameters_are_literals() -> None:
    task = one(
        "featurize(shard=3, mode='fast', rate=-0.5, on=True, off=None, "
        "ids=[1, 2], pair=(1, 'a'), cfg={'k': [1, {'n': -2}]})"
    )
    assert task.arguments == {
        "shard": 3,
        "mode": "fast",
        "rate": -0.5,
        "on": True,
        "off": None,
        "ids": [1, 2],
        "pair": (1, "a"),
        "cfg": {"k": [1, {"n": -2}]},
    }
    assert task.map_items is None and task.when is None and not task.continue_on_fail


def test_map_with_list_tuple_and_range() -> None:
    assert one("f.map(shard=[0, 1, 2])").map_items == {"shard": [0, 1, 2]}
    assert one("f.map(shard=('a', 'b'))").map_items == {"shard": ["a", "b"]}
    assert one("f.map(shard=range(3))").map_items == {"shard": [0, 1, 2]}
    assert one("f.map(shard=range(2, 8, 3))").map_items == {"shard": [2, 5]}
    assert one("f.map(shard=range(-2, 0))").map_items == {"shard": [-2, -1]}


def test_map_zips_several_keywords() -> None:
    task = one("f.map(shard=range(2), name=['x', 'y'])")
    assert task.map_items == {"shard": [0, 1], "name": ["x", "y"]}


def test_methods_chain_in_any_order_after_parameters() -> None:
    body = "a >> train(lr=0.1).continue_on_fail().when('a.score >= 2').map(seed=[1, 2])"
    (_, task) = parse_workflow(body)
    assert task == Task(
        "train",
        "train",
        arguments={"lr": 0.1},
        map_items={"seed": [1, 2]},
        depends=("a",),
        when="a.score >= 2",
        continue_on_fail=True,
        line=1,
        col=6,
    )


def test_when_keeps_the_string_unchanged() -> None:
    cond = "not (accuracy > 0.9 and train.loss < -1) or (n + 1) * 2 / 3 - 4 % 2 == 0 or f"
    assert one(f"report.when({cond!r})").when == cond
    assert one("report.when(' ok == True')").when == " ok == True"


def test_named_tasks_share_a_template() -> None:
    body = "prep >> train.named('train_small')(size=1)\nprep >> train.named('train_big')"
    with pytest.raises(SpecError):  # parameters go right after the template name
        parse_workflow(body)
    body = (
        "prep >> train(size=1).named('train_small')\n"
        "prep >> train(size=9).named('train_big') >> report\n"
        "train_small >> report"
    )
    tasks = parse_workflow(body)
    assert [(t.name, t.template, t.arguments) for t in tasks] == [
        ("prep", "prep", {}),
        ("train_small", "train", {"size": 1}),
        ("train_big", "train", {"size": 9}),
        ("report", "report", {}),
    ]
    assert tasks[3].depends == ("train_big", "train_small")


def test_named_mention_refers_to_the_task_and_bare_name_too() -> None:
    body = "a >> t.named('x').map(i=[1])\nt.named('x') >> b\nx >> c"
    tasks = parse_workflow(body)
    assert [(t.name, t.template) for t in tasks] == [("a", "a"), ("x", "t"), ("b", "b"), ("c", "c")]
    assert tasks[2].depends == ("x",) and tasks[3].depends == ("x",)
    assert tasks[1].map_items == {"i": [1]}


def test_options_may_come_at_a_later_mention() -> None:
    tasks = parse_workflow("a >> b\nb(k=1).continue_on_fail() >> c")
    assert tasks[1] == Task(
        "b", "b", arguments={"k": 1}, depends=("a",), continue_on_fail=True, line=1, col=6
    )


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "line", "col", "words"),
    [
        ("x = a >> b", 2, 1, "assignments are not allowed"),
        ("a\nimport os", 3, 1, "imports are not allowed"),
        ("def f():\n    pass", 2, 1, "function definitions are not allowed"),
        ("for x in y:\n    x", 2, 1, "'for' statements are not allowed"),
        ("'just a string'", 2, 1, "is not a task"),
        ("a >> b + c", 2, 6, "operator in 'b + c' is not allowed"),
        ("a | b", 2, 1, "only >> chains tasks"),
        ("a >> (b, c)", 2, 6, "use a list [a, b]"),
        ("a >> b.c", 2, 6, "attribute access 'b.c' is not allowed"),
        ("a.map", 2, 1, "attribute access"),
        ("a >> b.run()", 2, 8, "unknown method .run()"),
        ("a >> 3", 2, 6, "'3' is not a task"),
        ("a >> -b", 2, 6, "is not allowed here"),
        ("a >> []", 2, 6, "empty list"),
        ("a >> [*b]", 2, 7, "is not allowed here"),
        ("a >> b()(x=1)", 2, 6, "call 'b()(x=1)' is not allowed"),
        ("a >> (lambda: 1)()", 2, 6, "call"),
        ("f(1, x=2)", 2, 3, "positional argument in 'f(1, x=2)'"),
        ("f(*xs)", 2, 3, "positional argument"),
        ("f(**kw)", 2, 3, "'**' in 'f(**kw)' is not allowed"),
        ("f(x=y)", 2, 5, "parameter 'x' must be a Python literal"),
        ("f(x=[1, {'k': g()}])", 2, 15, "not 'g()'"),
        ("f(x=1 + 1)", 2, 5, "not '1 + 1'"),
        ("f.map(x=shards)", 2, 9, "mapping over upstream outputs is not supported yet"),
        ("f.map(x=up.shards)", 2, 9, "mapping over upstream outputs is not supported yet"),
        ("f.map(x=[1, y])", 2, 13, ".map(x=...) must be a Python literal"),
        ("f.map(x='abc')", 2, 9, "takes a list, a tuple or range(...)"),
        ("f.map(x=list(y))", 2, 9, "takes a list"),
        ("f.map(x=range(n))", 2, 15, "range() argument"),
        ("f.map(x=range(1.5))", 2, 9, "range() takes 1 to 3 integers"),
        ("f.map(x=range(0, 4, 0))", 2, 9, "non-zero step"),
        ("f.map(x=range(stop=3))", 2, 9, "range() takes"),
        (f"f.map(x=range({MAX_MAP_ITEMS + 1}))", 2, 9, f"at most {MAX_MAP_ITEMS}"),
        ("f.map(x=[1, 2], y=[1])", 2, 3, "same length (x: 2, y: 1)"),
        ("f.map([1])", 2, 3, "give each mapped parameter by name"),
        ("f.map()", 2, 3, "give each mapped parameter by name"),
        ("f.map(**kw)", 2, 7, "'**'"),
        ("f.when(x)", 2, 8, ".when() takes one non-empty string"),
        ("f.when('')", 2, 8, ".when() takes one non-empty string"),
        ("f.when('a', 'b')", 2, 3, ".when() takes one non-empty string"),
        ("f.when(cond='a')", 2, 3, ".when() takes one"),
        ("f.when('a >')", 2, 12, "condition 'a >' is not a valid expression"),
        ("f.when('a > g(1)')", 2, 13, "'g(1)' is not allowed"),
        ("f.when('a in [1]')", 2, 9, "'a in [1]' is not allowed"),
        ("f.when('t.out.x == 1')", 2, 9, "'t.out.x' is not allowed"),
        ("f.when('x ** 2 > 1')", 2, 9, "'x ** 2' is not allowed"),
        ("f.when('~x')", 2, 9, "'~x' is not allowed"),
        ("f.when('x == b\"1\"')", 2, 14, "is not allowed"),
        ("f.when('a > > 1')", 2, 13, "not a valid expression: invalid syntax"),
        ("f.when('a\\0')", 2, 8, "not a valid expression"),
        ("f.when('  ')", 2, 11, "not a valid expression"),
        ("f.when('x if y else z')", 2, 9, "is not allowed"),
        ("f.when(r'open()')", 2, 8, "'open()' is not allowed"),
        ("f.when('''é and g()''')", 2, 8, "'g()' is not allowed"),
        ("f.when('é and g()')", 2, 15, "'g()' is not allowed"),
        ("f.when('  x and y()')", 2, 17, "'y()' is not allowed"),
        ("f.named(3)", 2, 9, ".named() takes one non-empty string"),
        ("f.named()", 2, 3, ".named() takes one"),
        ("f.continue_on_fail(True)", 2, 3, ".continue_on_fail() takes no arguments"),
        ("f.when('a').when('b')", 2, 13, ".when() is given twice for task 'f'"),
        ("__import__('os').system('x')", 2, 18, "unknown method .system()"),
        ("a >> a", 2, 6, "task 'a' cannot depend on itself"),
        ("a >> [b, a]", 2, 10, "task 'a' cannot depend on itself"),
        ("t.named('x') >> x", 2, 17, "task 'x' cannot depend on itself"),
        ("a(k=1) >> b\nb >> a.when('x')", 3, 6, "task 'a' is configured twice (line 2 and line 3)"),
        ("a.map(i=[1])\na.continue_on_fail()", 3, 1, "configured twice"),
        ("x >> y\nt.named('x')", 3, 1, "task 'x' runs template 'x' (line 2), not 't'"),
        ("t.named('x')\nx(k=1)", 3, 1, "task 'x' runs template 't' (line 2), not 'x'"),
    ],
)
def test_errors_name_what_and_where(body: str, line: int, col: int, words: str) -> None:
    err = fails(body, line_offset=1)
    assert words in err.message
    assert (err.line, err.col) == (line, col)
    assert str(err).startswith(f"cell 3, line {line}, column {col}: ")


def test_syntax_errors_keep_line_and_column() -> None:
    err = fails("a >> b\nc >> (d", line_offset=1)
    assert err.message.startswith("syntax error: ")
    assert "never closed" in err.message
    assert (err.line, err.col) == (3, 6)
    err = fails("a >> b\n  c")
    assert (err.line, err.message) == (2, "syntax error: unexpected indent")
    err = fails("é >> )")
    assert (err.line, err.col) == (1, 6)


def test_empty_body_has_no_tasks() -> None:
    for body in ("", "\n  \n", "# only a comment\n"):
        err = fails(body)
        assert err.message == "workflow has no tasks"
        assert err.line is None


def test_null_bytes_and_deep_nesting_are_spec_errors() -> None:
    assert "null bytes" in fails("a >> b\0").message
    assert fails("a >> " + "[" * 250 + "b" + "]" * 250).where == "cell 3"
    long_chain = " >> ".join(f"t{i}" for i in range(3000))
    with pytest.raises(SpecError):
        parse_workflow(long_chain)


def test_parsing_evaluates_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    for body in (
        "a(x=print('evaluated'))",
        "a.map(x=[print('evaluated')])",
        "print('evaluated').named('p')",
        "a >> print('evaluated')",
    ):
        fails(body)
    assert one("print").template == "print"
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------------------- with the model


def workflow(body: str, *templates: str) -> Workflow:
    tmpls = {n: Template(n) for n in templates}
    return Workflow(
        "wf", templates=tmpls, tasks=parse_workflow(body, where="workflow wf"), where="workflow wf"
    )


def test_model_check_accepts_parse_output() -> None:
    check(workflow("a >> [b, t.named('c')] >> d", "a", "b", "t", "d"))


def test_model_check_finds_a_cycle_across_statements() -> None:
    with pytest.raises(CycleError) as info:
        check(workflow("a >> b >> a", "a", "b"))
    assert info.value.path == ["a", "b", "a"]
    assert "dependency cycle: a >> b >> a" in str(info.value)
    with pytest.raises(CycleError) as info:
        check(workflow("a >> b\nb >> c\nc >> a", "a", "b", "c"))
    assert info.value.path[0] == info.value.path[-1] and len(info.value.path) == 4


def test_model_check_reports_unknown_template_at_the_mention() -> None:
    with pytest.raises(SpecError) as info:
        check(workflow("a >> missing", "a"))
    assert "unknown template 'missing'" in info.value.message
    assert (info.value.line, info.value.col) == (1, 6)
