"""Tests of nbflow.marshal: round-trips by type, errors, atomic writes, fan-in, parameters."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbflow import marshal
from nbflow.digest import digest_path
from nbflow.errors import MarshalError


class Point:
    """A plain class: saved with pickle, found again by its module and name."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


@pytest.fixture
def registry(monkeypatch):
    """Restore the serialiser registry after a test that changes it."""
    monkeypatch.setattr(marshal, "_serializers", list(marshal._serializers))
    monkeypatch.setattr(marshal, "_loaders", dict(marshal._loaders))


def roundtrip(value, tmp_path: Path, expected_format: str):
    fmt = marshal.save(value, tmp_path / "art", name="x", template="t")
    assert fmt == expected_format
    meta = json.loads((tmp_path / "art" / "nbflow.json").read_text())
    assert meta == {"format": fmt, "type": f"{type(value).__module__}.{type(value).__qualname__}"}
    # a pickle is only loaded with the digest its writer recorded
    return marshal.load(tmp_path / "art", digest=digest_path(tmp_path / "art"))


# ----------------------------------------------------------------------------- round-trips


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -3,
        2.5,
        "héllo",
        [],
        {},
        {"a": [1, 2.0, None, {"b": [True, "x"]}], "c": {"d": {"e": []}}},
    ],
)
def test_json_values_round_trip(tmp_path, value):
    back = roundtrip(value, tmp_path, "json")
    assert back == value
    assert type(back) is type(value)
    assert (tmp_path / "art" / "data.json").is_file()


def test_tuples_come_back_as_lists(tmp_path):
    assert roundtrip({"pair": (1, (2, 3))}, tmp_path, "json") == {"pair": [1, [2, 3]]}


@pytest.mark.parametrize("value", [float("nan"), {1: "int key"}, np.float64(1.5), {"s": {1, 2}}])
def test_values_json_cannot_hold_exactly_are_pickled(tmp_path, value):
    back = roundtrip(value, tmp_path, "pickle")
    assert type(back) is type(value)
    assert back == value or (back != back and value != value)  # NaN != NaN


def test_dataframe_keeps_dtypes_index_and_nulls(tmp_path):
    df = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "cat": pd.Categorical(["a", None, "b"], categories=["b", "a"], ordered=True),
            "when": pd.to_datetime(["2024-01-01", None, "2024-03-01T12:30"], format="ISO8601"),
            "tz": pd.date_range("2024-01-01", periods=3, tz="Europe/Paris"),
            "f": [1.5, np.nan, 3.0],
            "s": ["x", None, "z"],
            "b": pd.array([True, None, False], dtype="boolean"),
        },
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )
    back = roundtrip(df, tmp_path, "parquet")
    pd.testing.assert_frame_equal(back, df)
    assert back["cat"].cat.ordered and list(back["cat"].cat.categories) == ["b", "a"]
    assert back["n"].isna().tolist() == [False, True, False]
    assert (tmp_path / "art" / "data.parquet").is_file()


def test_dataframe_with_multiindex_round_trips(tmp_path):
    index = pd.MultiIndex.from_tuples([(1, "x"), (2, "y")], names=["k", "tag"])
    df = pd.DataFrame({"v": [0.5, 1.5]}, index=index)
    pd.testing.assert_frame_equal(roundtrip(df, tmp_path, "parquet"), df)


def test_dataframe_pyarrow_rejects_falls_back_to_pickle(tmp_path):
    df = pd.DataFrame([[1, 2]], columns=["a", "a"])  # duplicate names: parquet refuses
    back = roundtrip(df, tmp_path, "pickle")
    pd.testing.assert_frame_equal(back, df)
    assert not (tmp_path / "art" / "data.parquet").exists()


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1, None, 3], dtype="Int64", name="count", index=[10, 20, 30]),
        pd.Series(["a", "b"], name=None),
        pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"]), name=7),
    ],
)
def test_series_round_trips_with_name(tmp_path, series):
    back = roundtrip(series, tmp_path, "parquet-series")
    assert isinstance(back, pd.Series)
    pd.testing.assert_series_equal(back, series)


@pytest.mark.parametrize(
    "array",
    [
        np.array(3.5),
        np.arange(12, dtype=np.int16).reshape(3, 4),
        np.asfortranarray(np.ones((2, 3), dtype=np.float32)),
        np.array([b"ab", b"c"]),
        np.zeros((0, 5), dtype=np.complex128),
    ],
)
def test_ndarray_keeps_dtype_and_shape(tmp_path, array):
    back = roundtrip(array, tmp_path, "npy")
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_object_ndarray_is_pickled(tmp_path):
    array = np.array([{"a": 1}, None], dtype=object)
    back = roundtrip(array, tmp_path, "pickle")
    assert back.dtype == object and back.tolist() == [{"a": 1}, None]
    assert not (tmp_path / "art" / "data.npy").exists()


def test_file_path_is_copied(tmp_path):
    src = tmp_path / "report.html"
    src.write_text("<h1>ok</h1>")
    back = roundtrip(src, tmp_path, "path")
    assert back == (tmp_path / "art" / "files" / "report.html").absolute()
    src.unlink()
    assert back.read_text() == "<h1>ok</h1>"


def test_folder_path_is_copied(tmp_path):
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "weights.bin").write_bytes(b"\x00\x01")
    (src / "sub" / "conf.txt").write_text("c")
    back = roundtrip(src, tmp_path, "path")
    assert back.is_dir() and back.parent == (tmp_path / "art" / "files").absolute()
    assert (back / "weights.bin").read_bytes() == b"\x00\x01"
    assert (back / "sub" / "conf.txt").read_text() == "c"


def test_relative_path_is_read_from_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("out.txt").write_text("rel")
    back = roundtrip(Path("out.txt"), tmp_path, "path")
    assert back.is_absolute() and back.read_text() == "rel"


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(
        MarshalError,
        match=r"output 'x' of template 't' \(a PosixPath\).*"
        r"'nope.txt' does not exist",
    ):
        marshal.save(Path("nope.txt"), tmp_path / "art", name="x", template="t")


def test_custom_class_is_pickled(tmp_path):
    back = roundtrip([Point(1, 2), Point(3, 4)], tmp_path, "pickle")
    assert back == [Point(1, 2), Point(3, 4)]
    assert (tmp_path / "art" / "data.pkl").is_file()


# ----------------------------------------------------------------------------- errors


def test_lambda_cannot_be_saved(tmp_path):
    with pytest.raises(MarshalError) as info:
        marshal.save(lambda v: v, tmp_path / "art", name="score_fn", template="train")
    message = str(info.value)
    assert message.startswith(
        "output 'score_fn' of template 'train' (a function) cannot be saved: "
    )
    assert "pickle" in message
    assert not (tmp_path / "art").exists()


def test_open_socket_cannot_be_saved(tmp_path):
    with socket.socket() as sock, pytest.raises(MarshalError) as info:
        marshal.save(sock, tmp_path / "art", name="conn", template="train")
    assert str(info.value).startswith(
        "output 'conn' of template 'train' (a socket) cannot be saved:"
    )
    assert "cannot pickle 'socket' object" in str(info.value)


def test_error_without_template_names_the_variable(tmp_path):
    with pytest.raises(MarshalError, match=r"^output 'f' \(a function\) cannot be saved"):
        marshal.save(lambda: 0, tmp_path / "art", name="f")


def test_load_of_a_non_artifact_is_an_error(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(MarshalError, match="is not an nbflow artifact"):
        marshal.load(tmp_path / "plain")


def test_load_of_an_unknown_format_is_an_error(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    (art / "nbflow.json").write_text('{"format": "zarr", "type": "x.Y"}')
    with pytest.raises(MarshalError, match="format 'zarr'"):
        marshal.load(art)


# ----------------------------------------------------------------------------- atomic writes


def test_save_leaves_no_temporary_directories(tmp_path):
    marshal.save({"a": 1}, tmp_path / "out" / "x", name="x")
    marshal.save([1, 2], tmp_path / "out" / "x", name="x")  # replaces the artifact
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x"]
    files = sorted(p.name for p in (tmp_path / "out" / "x").iterdir())
    assert files == ["data.json", "nbflow.json"]
    assert marshal.load(tmp_path / "out" / "x") == [1, 2]


def test_artifact_directory_is_readable_by_others(tmp_path):
    marshal.save(1, tmp_path / "x", name="x")
    assert (tmp_path / "x").stat().st_mode & 0o777 == 0o755


def test_replacing_with_a_new_format_drops_the_old_files(tmp_path):
    marshal.save(np.arange(3), tmp_path / "x", name="x")
    marshal.save("text", tmp_path / "x", name="x")
    assert not (tmp_path / "x" / "data.npy").exists()
    assert marshal.load(tmp_path / "x") == "text"


def test_failed_save_keeps_the_previous_artifact(tmp_path):
    marshal.save({"v": 1}, tmp_path / "x", name="x")
    with pytest.raises(MarshalError):
        marshal.save(lambda: 0, tmp_path / "x", name="x")
    assert [p.name for p in tmp_path.iterdir()] == ["x"]
    assert marshal.load(tmp_path / "x") == {"v": 1}


# ----------------------------------------------------------------------------- fan-in


def make_fan_in(root: Path, name: str, values: list) -> Path:
    for i, value in enumerate(values):
        marshal.save(value, root / str(i) / name, name=name)
        marshal.save("other output", root / str(i) / "other", name="other")
        (root / str(i) / "notebook.ipynb").write_text("{}")
    return root


def test_fan_in_loads_items_in_numeric_order(tmp_path):
    root = make_fan_in(tmp_path / "shards", "shard", [f"item-{i}" for i in range(12)])
    (root / "notebook.ipynb").write_text("{}")
    (root / "logs").mkdir()
    (root / "3b").mkdir()
    expected = [f"item-{i}" for i in range(12)]
    assert marshal.load_fan_in(root, "shard") == expected
    assert marshal.load_input(root, "shard") == expected


def test_single_artifact_input_is_not_a_fan_in(tmp_path):
    marshal.save([0, 1], tmp_path / "raw", name="raw")
    assert marshal.load_input(tmp_path / "raw", "raw") == [0, 1]


def test_empty_fan_in_is_an_empty_list(tmp_path):
    (tmp_path / "shard").mkdir()
    assert marshal.load_input(tmp_path / "shard", "shard") == []


def test_fan_in_item_without_the_artifact_is_an_error(tmp_path):
    root = make_fan_in(tmp_path / "s", "shard", [1, 2])
    (root / "2").mkdir()
    with pytest.raises(MarshalError, match="item 2 of fan-in input 'shard'"):
        marshal.load_input(root, "shard")


def test_input_that_is_neither_artifact_nor_fan_in_is_an_error(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "data.csv").write_text("a\n1\n")
    with pytest.raises(MarshalError, match="neither an nbflow artifact"):
        marshal.load_input(tmp_path / "raw", "raw")


# ----------------------------------------------------------------------------- parameters


def test_to_parameter_is_compact_json():
    assert marshal.to_parameter({"a": [1, 2.5, None], "b": True}) == '{"a":[1,2.5,null],"b":true}'
    assert marshal.to_parameter("x") == '"x"'
    assert marshal.to_parameter((1, 2)) == "[1,2]"


def test_to_parameter_size_limit():
    fits = "a" * (64 * 1024 - 2)  # two bytes for the quotes
    assert marshal.to_parameter(fits) == f'"{fits}"'
    assert marshal.to_parameter(fits + "a") is None
    assert marshal.to_parameter(list(range(20000))) is None


@pytest.mark.parametrize("value", [float("inf"), np.int64(3), {1: 2}, Path("."), object()])
def test_to_parameter_rejects_values_json_cannot_hold(value):
    assert marshal.to_parameter(value) is None


# ----------------------------------------------------------------------------- extension


class Celsius(float):
    """A float subclass a plugin knows how to save."""


def test_register_adds_a_serialiser_before_pickle(tmp_path, registry):
    marshal.register(
        Celsius,
        "celsius",
        lambda v, d: (d / "c.txt").write_text(repr(float(v))),
        lambda d: Celsius(float((d / "c.txt").read_text())),
    )
    assert [s.format for s in marshal._serializers][-2:] == ["celsius", "pickle"]
    back = roundtrip(Celsius(21.5), tmp_path, "celsius")
    assert type(back) is Celsius and back == 21.5


def test_register_first_wins_over_builtins(tmp_path, registry):
    marshal.register(
        lambda v: v == "secret",
        "redacted",
        lambda v, d: (d / "r").write_text(""),
        lambda d: "<redacted>",
        first=True,
    )
    assert roundtrip("secret", tmp_path, "redacted") == "<redacted>"


def test_unsupported_passes_to_the_next_serialiser(tmp_path, registry):
    def refuse(value, directory):
        (directory / "junk").write_text("partial")
        raise marshal.Unsupported("not today")

    marshal.register(Point, "points", refuse, lambda d: None, first=True)
    assert roundtrip(Point(1, 1), tmp_path, "pickle") == Point(1, 1)
    assert not (tmp_path / "art" / "junk").exists()


def test_entry_point_plugins_are_loaded_once(tmp_path, monkeypatch, registry):
    dist = tmp_path / "nbflow_celsius_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: nbflow-celsius-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[nbflow.serializers]\ncelsius = nbflow_celsius_plugin:install\n"
    )
    (tmp_path / "nbflow_celsius_plugin.py").write_text(
        "from nbflow import marshal\n"
        "CALLS = []\n"
        "def install():\n"
        "    CALLS.append(1)\n"
        "    marshal.register(lambda v: type(v).__name__ == 'Celsius', 'celsius-plugin',\n"
        "                     lambda v, d: (d / 'c').write_text(str(float(v))),\n"
        "                     lambda d: float((d / 'c').read_text()))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(marshal, "_plugins_loaded", False)
    monkeypatch.delitem(sys.modules, "nbflow_celsius_plugin", raising=False)
    assert roundtrip(Celsius(3.0), tmp_path, "celsius-plugin") == 3.0
    marshal.load(tmp_path / "art")
    assert sys.modules["nbflow_celsius_plugin"].CALLS == [1]


def test_marshal_imports_no_heavy_modules(tmp_path):
    code = (
        "import sys, pathlib\n"
        "from nbflow import marshal, handoff\n"
        "d = pathlib.Path(sys.argv[1])\n"
        "marshal.save({'a': [1]}, d / 'x', name='x')\n"
        "assert marshal.load(d / 'x') == {'a': [1]}\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
