"""Digests of artifacts and the check of a step's staged inputs against its expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbflow import marshal
from nbflow.digest import check_inputs, digest_path, record_digests, verify_inputs
from nbflow.errors import IntegrityError, MarshalError


def artifact(folder: Path, value: object) -> str:
    marshal.save(value, folder, name=folder.name)
    return digest_path(folder)


def fan_in(root: Path, name: str, values: list[object]) -> dict[str, str]:
    return {str(i): artifact(root / str(i) / name, v) for i, v in enumerate(values)}


def test_a_changed_or_missing_input_is_named_with_its_producer_and_key(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    digest = artifact(inputs / "x", [1, 2])
    expect = {"x": {"task": "make", "key": "w/r1/make/x/", "digest": digest}}
    verify_inputs(inputs, expect)  # as written: fine
    (inputs / "x" / "data.json").write_text("[300, 2]")
    with pytest.raises(IntegrityError) as info:
        verify_inputs(inputs, expect)
    message = str(info.value)
    assert message.startswith("input 'x': artifact w/r1/make/x/ of task 'make' changed after")
    assert digest[:12] in message and "\n" not in message
    (inputs / "x" / "data.json").unlink()
    with pytest.raises(IntegrityError, match="changed after it was written"):
        verify_inputs(inputs, expect)  # a file less is a change too
    import shutil

    shutil.rmtree(inputs / "x")
    with pytest.raises(IntegrityError, match=r"^input 'x': artifact w/r1/make/x/ .* is missing$"):
        verify_inputs(inputs, expect)


def test_a_fan_in_is_exactly_the_recorded_items(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    items = fan_in(inputs / "ys", "ys", [10, 11, 12])
    expect = {"ys": {"task": "item", "key": "w/r1/item/", "items": items}}
    artifact(inputs / "ys" / "3" / "ys", 999)  # left by an earlier attempt, or planted
    verify_inputs(inputs, expect)
    assert not (inputs / "ys" / "3").exists()  # never read
    assert marshal.load_input(inputs / "ys", "ys", expect["ys"]) == [10, 11, 12]
    import shutil

    shutil.rmtree(inputs / "ys" / "1")
    with pytest.raises(IntegrityError) as info:
        verify_inputs(inputs, expect)
    assert str(info.value) == (
        "input 'ys': item 1 of mapped task 'item' (w/r1/item/1/ys/) is missing"
    )


def test_the_runner_side_reads_the_expectation_and_records_output_digests(tmp_path: Path) -> None:
    step = tmp_path / "step"
    check_inputs(step)  # no expectation: nothing to check
    digest = artifact(step / "inputs" / "x", "v")
    expect = {"x": {"task": "t", "key": "k/", "digest": digest}}
    (step / "expect.json").write_text(json.dumps(expect))
    check_inputs(step)
    (step / "inputs" / "x" / "data.json").write_text('"w"')
    with pytest.raises(IntegrityError):
        check_inputs(step)
    out = artifact(step / "outputs" / "y", {"a": 1})
    assert record_digests(step) == {"y": out}
    assert json.loads((step / "digests.json").read_text()) == {"y": out}


def test_a_pickle_loads_only_from_bytes_matching_the_record(
    tmp_path: Path, planted_pickle: tuple[bytes, Path]
) -> None:
    payload, marker = planted_pickle
    folder = tmp_path / "art"
    digest = artifact(folder, {1, 2})  # a set: only pickle saves it
    assert marshal.load(folder, digest=digest) == {1, 2}
    with pytest.raises(MarshalError, match="no digest of it is recorded"):
        marshal.load(folder)  # nobody vouches for it
    (folder / "data.pkl").write_bytes(payload)
    with pytest.raises(IntegrityError, match="refusing to unpickle .* changed after it was"):
        marshal.load(folder, digest=digest, verified=True)
    assert not marker.exists()
    # a JSON artifact turned into a pickle by editing its nbflow.json
    json_art = tmp_path / "j"
    jdigest = artifact(json_art, [1])
    (json_art / "data.pkl").write_bytes(payload)
    (json_art / "nbflow.json").write_text(json.dumps({"format": "pickle", "type": "list"}))
    with pytest.raises(IntegrityError):
        marshal.load(json_art, digest=jdigest)
    assert not marker.exists()


def test_pickle_turned_off_names_the_output_that_needs_a_format(tmp_path: Path) -> None:
    with pytest.raises(MarshalError) as info:
        marshal.save({1, 2}, tmp_path / "s", name="shards", template="split", allow_pickle=False)
    assert str(info.value).startswith(
        "output 'shards' of template 'split' (a set) needs a registered format: pickle is "
        "turned off (c.NbflowConfig.allow_pickle = False)"
    )
    assert marshal.save([1], tmp_path / "j", name="j", allow_pickle=False) == "json"
    digest = artifact(tmp_path / "p", {3})
    with pytest.raises(MarshalError, match="pickle is turned off"):
        marshal.load(tmp_path / "p", digest=digest, allow_pickle=False)
