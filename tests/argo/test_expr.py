"""Tests for Argo's ``when`` (govaluate) and ``{{= }}`` (expr-lang) evaluators."""

from __future__ import annotations

import math

import pytest

from nbflow.argo.expr import argo_text, evaluate_expr, evaluate_when
from nbflow.errors import ManifestError


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # bare words are strings (the coin-flip example), quoting is optional
        ("heads == heads", True),
        ("heads == tails", False),
        ("heads != tails", True),
        ("'a b' == \"a b\"", True),
        ("'it\\'s' == [it's]", True),
        ("\"a\" == 'a'", True),
        ("[my var] == 'my var'", True),
        ("Succeeded == Succeeded", True),
        # numbers are floats and compare numerically; strings compare as strings
        ("1 == 1.0", True),
        ("2 > 10", False),
        ("'2' > '10'", True),
        ("10 >= 10", True),
        ("3 <= 2", False),
        ("1 < 2", True),
        ("0x10 == 16", True),
        ("1 == '1'", False),
        # booleans and logic; && binds tighter than ||; ! binds tightest
        ("true", True),
        ("false", False),
        ("!false", True),
        ("!true == false", True),
        ("true && false", False),
        ("false || true", True),
        ("true || false && false", True),
        ("(true || false) && false", False),
        ("5 > 3 && foo == foo", True),
        # regex match is a search, as Go's MatchString
        ("foo =~ '^f.o$'", True),
        ("'abc' =~ 'b'", True),
        ("foo !~ 'bar'", True),
        ("foo !~ 'o'", False),
        # membership
        ("2 in (1, 2, 3)", True),
        ("b in (a, c)", False),
        ("b IN (a, b)", True),
        # arithmetic and its precedence
        ("1 + 2 == 3", True),
        ("2 + 3 * 2 == 8", True),
        ("(2 + 3) * 2 == 10", True),
        ("10 / 4 == 2.5", True),
        ("7 % 4 == 3", True),
        ("2 ** 3 == 8", True),
        ("-2 ** 2 == 4", True),
        ("1 - 2 - 3 == -4", True),
        ("a + b == ab", True),
        ("a + 1 == a1", True),
        # ternary and coalescing
        ("true ? true : false", True),
        ("false ? 1 == 1 : 1 == 2", False),
        ("true ?? false", True),
        # blank means no condition
        ("", True),
        ("   ", True),
    ],
)
def test_when_values(expr: str, expected: bool) -> None:
    assert evaluate_when(expr) is expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("foo = bar", "Invalid 'when' expression 'foo = bar': Invalid token: '=' at column 5 "
                      '(hint: try wrapping the affected expression in quotes ("))'),
        ("1 +", "Invalid 'when' expression '1 +': unexpected end of expression at column 4"),
        ("(1 == 1", "Invalid 'when' expression '(1 == 1': unexpected end of expression"),
        ("1 == 1)", "Invalid 'when' expression '1 == 1)': unexpected token ')' at column 7"),
        ("'abc == abc", "Unclosed string literal at column 1"),
        ("[abc == abc", "Unclosed parameter bracket at column 1"),
        ("1.2.3 == 1", "Unable to parse numeric value '1.2.3' to float64"),
        ("f(1) == 1", "unexpected token '('"),
        ("heads tails", "unexpected token 'tails' at column 7"),
        ("foo.bar == x", "Unable to access unexported field 'bar' in token 'foo.bar'"),
        ("foo. == x", "Hanging accessor on token 'foo.'"),
        ("foo.Bar == x",
         "Failed to evaluate 'when' expression 'foo.Bar == x': No parameter 'foo' found."),
        ("1 + 2", "Expected boolean evaluation for '1 + 2'. Got 3"),
        ("heads", "Expected boolean evaluation for 'heads'. Got heads"),
        ("heads > 1",
         "Value 'heads' cannot be used with the comparator '>', it is not a number"),
        ("1 && true", "Value '1' cannot be used with the logical operator '&&', it is not a bool"),
        ("!x", "Value 'x' cannot be used with the prefix '!', it is not a bool"),
        ("-x == 1", "Value 'x' cannot be used with the prefix '-', it is not a number"),
        ("a - b == c", "Value 'a' cannot be used with the modifier '-', it is not a number"),
        ("x in y", "Value 'y' cannot be used with the comparator 'in', it is not an array"),
        ("1 =~ 'a'", "Value '1' cannot be used with a regex operator, it is not a string"),
        ("a =~ '('", "invalid regular expression '('"),
        ("1 ? true : false", "Value '1' cannot be used with the logical operator '?'"),
    ],
)
def test_when_errors(expr: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        evaluate_when(expr)
    assert message in str(info.value)


def test_when_error_names_where() -> None:
    with pytest.raises(ManifestError) as info:
        evaluate_when("1 + 2", where="task train")
    assert str(info.value) == "task train: Expected boolean evaluation for '1 + 2'. Got 3"
    assert info.value.where == "task train"


def test_when_division_by_zero_is_go_float() -> None:
    assert evaluate_when("1 / 0 > 1000")
    assert evaluate_when("-1 / 0 < -1000")
    assert not evaluate_when("0 / 0 == 0 / 0")  # NaN


VARS = {
    "inputs": {"parameters": {"x": "4", "my-p": "dash"}},
    "tasks": {"my-task": {"outputs": {"result": "r", "parameters": {"p": "v"}}}},
    "xs": [10, 20, 30],
    "s": "hello",
    "workflow": {"name": "wf"},
    "people": '{"p": [{"name": "Baris", "age": 43}, {"name": "Mo", "age": 42}]}',
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # arithmetic: ints stay ints, / is always float, % is Go's truncated remainder
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("4 / 2", 2.0),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("1.5 + 1", 2.5),
        ("2 ** 3", 8.0),
        ("2 ** 3 ** 2", 512.0),
        ("-2 ** 2", -4.0),
        ("2 ^ 2", 4.0),
        ("- -3", 3),
        ("+3", 3),
        # literals
        ("0x1F", 31),
        ("1_000", 1000),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("'a' + \"b\"", "ab"),
        ('"x\\ty\\u00e9"', "x\ty\u00e9"),
        ("`raw\\n`", "raw\\n"),
        ("'it\\'s'", "it's"),
        ("nil", None),
        ("[1, 'a', true]", [1, "a", True]),
        ("[1, 2,]", [1, 2]),
        ("{a: 1, 'b-c': 2}", {"a": 1, "b-c": 2}),
        ("{a: 1}.a", 1),
        ("{}", {}),
        # comparison and equality
        ("1 == 1.0", True),
        ("'1' == 1", False),
        ("nil == nil", True),
        ("[1, 2] == [1, 2.0]", True),
        ("{a: [1]} == {a: [1]}", True),
        ("'b' > 'a'", True),
        ("1 < 2 < 3", True),
        ("3 > 2 > 2", False),
        ("1 != 2", True),
        # logic: and binds tighter than or; not binds tighter than comparisons
        ("true and not false", True),
        ("true && !false", True),
        ("false or true", True),
        ("true or false and false", True),
        ("not true or true", True),
        ("!(1 == 1)", False),
        # string and membership operators
        ("2 in [1, 2]", True),
        ("'a' in {a: 1}", True),
        ("'z' in {a: 1}", False),
        ("3 not in [1, 2]", True),
        ("'abc' matches '^a'", True),
        ("'abc' not matches 'z'", True),
        ("'abc' contains 'b'", True),
        ("'abc' not contains 'z'", True),
        ("'abc' startsWith 'ab'", True),
        ("'abc' endsWith 'bc'", True),
        ("1..3", [1, 2, 3]),
        # conditional and nil-coalescing
        ("true ? 'y' : 'n'", "y"),
        ("false ? 'y' : 1 > 0 ? 'a' : 'b'", "a"),
        ("missing ?? 'fb'", "fb"),
        ("'' ?? 'fb'", ""),
        ("missing ?? other ?? 3", 3),
        ("missing", None),
        # member access, with dashes, indexes, slices, nil-safety
        ("inputs.parameters.x", "4"),
        ("inputs.parameters['my-p']", "dash"),
        ("tasks['my-task'].outputs.result", "r"),
        ("tasks['my-task'].outputs.parameters.p", "v"),
        ("tasks['my-task'].outputs.parameters.q ?? 'fb'", "fb"),
        ("tasks.other.outputs.result ?? 'fb'", "fb"),
        ("workflow?.name", "wf"),
        ("xs[0]", 10),
        ("xs[-1]", 30),
        ("xs[1:]", [20, 30]),
        ("xs[:2]", [10, 20]),
        ("s[1:3]", "el"),
        ("s[0]", "h"),
        ("[[1, 2]][0][1]", 2),
    ],
)
def test_expr_values(expr: str, expected: object) -> None:
    result = evaluate_expr(expr, VARS)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("asInt('5')", 5),
        ("asInt(inputs.parameters.x) + 1", 5),
        ("int(2.7)", 2),
        ("int('-3')", -3),
        ("asFloat('1.5')", 1.5),
        ("float(2)", 2.0),
        ("string(1.5)", "1.5"),
        ("string(2.0)", "2"),
        ("string(1e6)", "1e+06"),
        ("string(123456.0)", "123456"),
        ("string(0.0001)", "0.0001"),
        ("string(0.00001)", "1e-05"),
        ("string(1234567.5)", "1.2345675e+06"),
        ("string(12)", "12"),
        ("string(true)", "true"),
        ("string([1, 'a'])", "[1 a]"),
        ("string({b: 2, a: 1})", "map[a:1 b:2]"),
        ("string(nil)", "<nil>"),
        ("len('abc')", 3),
        ("len([1, 2])", 2),
        ("len({a: 1})", 1),
        ("toJson({b: 1, a: [1.5, 'x', nil]})", '{"a":[1.5,"x",null],"b":1}'),
        ("toJSON([1])", "[\n  1\n]"),
        ("fromJSON('{\"a\": 1}')", {"a": 1.0}),
        ("jsonpath('{\"a\": {\"b\": [10, 20]}}', '$.a.b[1]')", 20.0),
        ("jsonpath('{\"a-b\": {\"c\": \"x\"}}', \"$['a-b'].c\")", "x"),
        ("jsonpath('[1, 2]', '$[-1]')", 2.0),
        ("jsonpath('{\"a\": 1}', '$')", {"a": 1.0}),
        # the examples' paths (expression-destructure-json-complex.yaml): filters, slices, *
        ("jsonpath(people, '$.p[?(@.name==\"Baris\")].age')", [43.0]),
        ("jsonpath(people, '$.p[?(@.age>42 && @.age<44)].age')", [43.0]),
        ("jsonpath(people, '$.p[0:1]')", [{"name": "Baris", "age": 43.0}]),
        ("jsonpath(people, '$.p[*].name')", ["Baris", "Mo"]),
        ("jsonpath(people, '$..name')", ["Baris", "Mo"]),
        ("jsonpath(people, '$.p[0,1].age')", [43.0, 42.0]),
        # closures (docs/variables.md: "Filter a list", "Map a list"), pointers, pipes
        ("filter([1, 2], { # > 1})", [2]),
        ("map([1, 2], { # * 2 })", [2, 4]),
        ("filter([1, 3], # > 1)", [3]),
        ("map([{'a': 1}, {'a': 2}], .a)", [1, 2]),
        ("map([5, 6], #index)", [0, 1]),
        ("reduce([1, 2, 3], #acc + #, 10)", 16),
        ("all([1, 2], # > 0) && any([1, 2], # > 1) && none([1], # > 1) && one([1, 2], # > 1)",
         True),
        ("count([1, 2, 3], # > 1)", 2),
        ("find([1, 2, 3], # > 1)", 2),
        ("findIndex([1, 2, 3], # > 5)", -1),
        ("sum([1, 2, 3])", 6),
        ("[1, 2] | map(# + 1)", [2, 3]),
        ("map([[34, 27]], sprig.add(#[0], #[1]))", [61]),
        ("sprig.b64dec('aGk=') + sprig.b64enc('hi')", "hiaGk="),
        ("sprig.date('2006-01-02 15:04', 86400)", "1970-01-02 00:00"),
        ("sprig.regexMatch('^a.c$', 'abc')", True),
        ("sprig.toPrettyJson({'a': 1}) | sprig.nospace()", '{"a":1}'),
        ("upper('ab')", "AB"),
        ("lower('AB')", "ab"),
        ("trim('  a ')", "a"),
        ("split('a,b', ',')", ["a", "b"]),
        ("join(['a', 'b'], '-')", "a-b"),
        ("replace('aXa', 'X', 'Y')", "aYa"),
        ("hasPrefix('abc', 'ab')", True),
        ("hasSuffix('abc', 'bc')", True),
        ("keys({b: 1, a: 2})", ["a", "b"]),
        ("values({b: 1, a: 2})", [2, 1]),
        ("first([1, 2])", 1),
        ("last([1, 2])", 2),
        ("max(1, 3, 2)", 3),
        ("min([4, 2])", 2),
        ("abs(-2)", 2),
    ],
)
def test_expr_builtins(expr: str, expected: object) -> None:
    result = evaluate_expr(expr, VARS)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("sprig.trim('  a  ')", "a"),
        ("sprig.upper('a')", "A"),
        ("sprig.lower('A')", "a"),
        ("sprig.replace('a', 'b', 'banana')", "bbnbnb"),  # sprig order: old, new, string
        ("sprig.toString(1.5)", "1.5"),
        ("sprig.toString(5)", "5"),
        ("sprig.default('d', '')", "d"),
        ("sprig.default('d', nil)", "d"),
        ("sprig.default('d', 0)", "d"),
        ("sprig.default('d', 'v')", "v"),
        ("sprig.contains('an', 'banana')", True),
        ("sprig.contains('x', 'banana')", False),
        ("sprig.hasPrefix('ba', 'banana')", True),
        ("sprig.hasSuffix('na', 'banana')", True),
        ("sprig.trimPrefix('ba', 'banana')", "nana"),
        ("sprig.trimSuffix('na', 'banana')", "bana"),
        ("sprig.add(1, '2', 3)", 6),
        ("sprig.add1(1)", 2),
        ("sprig.sub(5, 2)", 3),
        ("sprig.mul(2, 3, 4)", 24),
        ("sprig.div(7, 2)", 3),
        ("sprig.div(-7, 2)", -3),
        ("sprig.add('x', 1)", 1),
        ("sprig.int('0x10')", 16),
        ("sprig.int('5.0')", 5),
        ("sprig.list(1, 'a')", [1, "a"]),
        ("sprig.join('-', sprig.list(1, 'a'))", "1-a"),
        ("sprig.join(',', 'one')", "one"),
        ("sprig.splitList(',', 'a,b')", ["a", "b"]),
        ("sprig.atoi('12')", 12),
        ("sprig.atoi('x')", 0),
        ("sprig.quote('a')", '"a"'),
        ("sprig.squote('a')", "'a'"),
        ("sprig.repeat(2, 'ab')", "abab"),
        ("sprig.toJson(sprig.list(1))", "[1]"),
    ],
)
def test_expr_sprig(expr: str, expected: object) -> None:
    result = evaluate_expr(expr, VARS)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "empty expression"),
        ("1 +", "unexpected end of expression at column 4"),
        ("1 2", "unexpected token '2' at column 3"),
        ("(1", "unexpected end of expression at column 3 (expected ')')"),
        ("[1, 2", "expected ','"),
        ("{1 + 1: 2}", "unexpected token '+'"),
        ("a.(1)", "unexpected token '(' at column 3 (expected a name after '.')"),
        ("a.1", "unexpected token '.1' at column 2"),
        ("'abc", "Unclosed string literal at column 1"),
        ("1 # 2", "unexpected token '#' at column 3"),
        ("# + 1", "unexpected '#' outside a closure at column 1"),
        ("filter([1], {# + }", "unexpected token '}'"),
        ("'\\q'", "invalid escape sequence '\\q'"),
        ("a ?? b + 1", "operator (+) and coalesce expressions (??) cannot be mixed"),
        ("true ? 1", "expected ':'"),
        ("'a' + 1", "invalid operation: + (mismatched types string and int)"),
        ("1 - 'a'", "invalid operation: - (mismatched types int and string)"),
        ("1 < 'a'", "invalid operation: < (mismatched types int and string)"),
        ("1 % 1.5", "invalid operation: % (mismatched types int and float64)"),
        ("1 % 0", "integer divide by zero"),
        ("1.5 .. 3", "invalid operation: .. (mismatched types float64 and int)"),
        ("-'a'", "invalid operation: - (mismatched type string)"),
        ("not 1", "invalid operation: not (non-bool operand of type int)"),
        ("'a' && true", "invalid operation: && (non-bool operand of type string)"),
        ("true and 1", "invalid operation: and (non-bool operand of type int)"),
        ("1 ? 2 : 3", "non-bool expression (type int) used as condition"),
        ("1 in 'abc'", 'operator "in" not defined on string'),
        ("'a' matches '('", "invalid regular expression '('"),
        ("'a' contains 1", "invalid operation: contains (mismatched types string and int)"),
        ("[1][5]", "index out of range: 5 (array length is 1)"),
        ("'x'.y", "cannot fetch y from string"),
        ("[1]['a']", "cannot fetch a from []interface {}"),
        ("xs[1:'a']", "invalid slice index a"),
        ("{a: 1}[0:1]", "cannot slice map[string]interface {}"),
        ("foo(1)", "unknown function foo()"),
        ("sprig.nope(1)", "unknown function sprig.nope()"),
        ("xs[0](1)", "only named functions can be called"),
        ("asInt('x')", "invalid operation: int(x)"),
        ("asInt('1.5')", "invalid operation: int(1.5)"),
        ("asInt(true)", "invalid operation: int(bool)"),
        ("asFloat('1_0')", "invalid operation: float(1_0)"),
        ("len(1)", "invalid argument for len (type int)"),
        ("sprig.trim()", "invalid arguments for sprig.trim()"),
        ("sprig.div(1, 0)", "integer divide by zero"),
        ("jsonpath('{', '$.a')", "jsonpath: invalid JSON"),
        ("jsonpath('{\"a\": 1}', '$.b')", "jsonpath: '$.b': no key 'b'"),
        ("jsonpath('{\"a\": 1}', 'a')", "must start with '$'"),
        ("jsonpath('{\"a\": [1]}', '$.a{')", "unsupported path"),
        ("fromJSON('nope')", "fromJSON:"),
    ],
)
def test_expr_errors(expr: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        evaluate_expr(expr, VARS)
    assert str(info.value).startswith(f"failed to evaluate expression '{expr}': ")
    assert message in str(info.value)


def test_expr_error_names_where() -> None:
    with pytest.raises(ManifestError) as info:
        evaluate_expr("foo()", {}, where="template t")
    assert info.value.where == "template t"
    assert str(info.value).startswith("template t: failed to evaluate expression 'foo()'")


def test_expr_short_circuits() -> None:
    # the right operand would fail; it must not be evaluated
    assert evaluate_expr("false && foo()", {}) is False
    assert evaluate_expr("true || foo()", {}) is True
    assert evaluate_expr("'x' ?? foo()", {}) == "x"
    assert evaluate_expr("true ? 1 : foo()", {}) == 1


def test_expr_variables_may_hold_functions() -> None:
    assert evaluate_expr("double(21)", {"double": lambda x: 2 * x}) == 42


def test_expr_float_division_by_zero() -> None:
    assert evaluate_expr("1 / 0", {}) == math.inf
    assert evaluate_expr("-1 / 0", {}) == -math.inf
    assert math.isnan(evaluate_expr("0 / 0", {}))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        ("", ""),
        (5, "5"),
        (-5, "-5"),
        (3.0, "3"),
        (0.5, "0.5"),
        (-2.5, "-2.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.25e-10, "1.25e-10"),
        (-0.0, "-0"),
        (True, "true"),
        (False, "false"),
        ([1, "a", None, 2.0], '[1,"a",null,2]'),
        ({"b": 1, "a": [True]}, '{"a":[true],"b":1}'),
        (["<a&b>"], '["\\u003ca\\u0026b\\u003e"]'),
        (["é\n"], '["é\\n"]'),
        ([], "[]"),
        ({}, "{}"),
    ],
)
def test_argo_text(value: object, text: str) -> None:
    assert argo_text(value) == text


@pytest.mark.parametrize("value", [None, math.nan, math.inf, [math.inf]])
def test_argo_text_rejects(value: object) -> None:
    with pytest.raises(ManifestError):
        argo_text(value)
