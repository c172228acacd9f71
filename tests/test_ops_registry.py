"""The operation registry: what the CLI, the API and the docs are driven from."""

from pathlib import Path

import pydantic
import pytest

from vegafs import Cancelled, CancelToken, ops
from vegafs.engine.analysis import AnalyzeSummary, EntryError
from vegafs.ops.analyze import AnalyzeSpec


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"a" * 10)
    (root / "sub" / "b.py").write_bytes(b"b" * 200)
    (root / "link").symlink_to("a.txt")
    return root


def test_all_operations_lists_the_built_in_ones() -> None:
    names = [op.name for op in ops.all_operations()]
    assert set(names) >= {"analyze", "hash", "list"}
    assert names == sorted(names)
    analyze = ops.get("analyze")
    assert analyze.params is AnalyzeSpec
    assert analyze.result is AnalyzeSummary
    assert analyze.row is EntryError
    assert analyze.mutates is False
    assert ops.names() == names


def test_analyze_params_schema_describes_the_selection() -> None:
    schema = ops.get("analyze").params_schema()
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"selection", "top", "max_errors", "now"}
    assert schema["required"] == ["selection"]
    assert schema["additionalProperties"] is False
    selection = schema["$defs"]["Selection"]
    assert selection["required"] == ["roots"]
    assert "include" in selection["properties"]
    assert "follow_symlinks" in selection["properties"]


def test_run_validates_a_dict_and_returns_an_exact_analyze_summary(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    ctx = ops.RunContext()
    result = ops.run("analyze", {"selection": {"roots": [str(root)]}, "top": 1}, ctx)
    assert isinstance(result, AnalyzeSummary)
    assert isinstance(ctx.rows, ops.RowBuffer)
    assert ctx.rows.rows == []
    assert (result.files, result.dirs, result.symlinks, result.other) == (2, 2, 1, 0)
    assert result.file_bytes == 210
    assert result.top == 1
    assert [(p.path, p.bytes) for p in result.largest_files] == [(str(root / "sub" / "b.py"), 200)]


def test_run_accepts_a_spec_model(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    spec = AnalyzeSpec.model_validate({"selection": {"roots": [root], "include": ["*.py"]}})
    result = ops.run("analyze", spec)
    assert isinstance(result, AnalyzeSummary)
    assert (result.files, result.file_bytes) == (1, 200)


def test_run_uses_the_contexts_cancel_token(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    ctx = ops.RunContext(cancel=CancelToken())
    ctx.cancel.cancel()
    with pytest.raises(Cancelled):
        ops.run("analyze", {"selection": {"roots": [str(root)]}}, ctx)


def test_run_reports_progress_into_the_context(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    ctx = ops.RunContext()
    ops.run("analyze", {"selection": {"roots": [str(root)]}}, ctx)
    entries, dirs, _bytes, errors = ctx.progress.snapshot()
    assert (entries, dirs, errors) == (5, 2, 0)


def test_get_unknown_operation_raises_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown operation 'nope' \(known: .*analyze.*\)"):
        ops.get("nope")
    with pytest.raises(KeyError, match="unknown operation 'nope'"):
        ops.run("nope", {})


def test_unknown_field_in_params_raises_validation_error(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="extra_forbidden") as info:
        ops.run("analyze", {"selection": {"roots": [str(tmp_path)]}, "colour": "blue"})
    assert info.value.errors()[0]["loc"] == ("colour",)
    with pytest.raises(pydantic.ValidationError) as info:
        ops.run("analyze", {"selection": {"roots": [str(tmp_path)], "depth": 3}})
    assert info.value.errors()[0]["loc"] == ("selection", "depth")


def test_negative_top_in_params_raises_validation_error(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        ops.run("analyze", {"selection": {"roots": [str(tmp_path)]}, "top": -1})
    assert info.value.errors()[0]["loc"] == ("top",)


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="operation 'analyze' registered twice"):
        ops.register(ops.get("analyze"))
