"""The model loader as Python users reach it: `from gi.repository import Hyrsm`."""
import gi

gi.require_version("Hyrsm", "1.0")
from gi.repository import GLib, Hyrsm  # noqa: E402

import pytest  # noqa: E402


def test_load_resnet18_with_head(make_test_model):
    path = make_test_model("r18.safetensors", "--backbone", "resnet18", "--head", "1shot")
    model = Hyrsm.Model.new_from_file(str(path))
    assert model.props.backbone == "resnet18"
    assert model.props.head == "1shot"
    assert model.props.frames == 8
    assert model.props.feature_dim == 512
    assert model.props.crop == 224
    assert model.props.resize == 256
    assert model.props.parameter_count == 11176512 + 10 * 512 * 512 + 7 * 512
    assert len(model.props.fingerprint) == 16
    assert model.get_path() == str(path)
    mean = model.get_mean()
    assert mean == pytest.approx((0.45, 0.45, 0.45))
    assert "hyrsm.backbone" in model.list_metadata()


def test_load_authors_resnet50_backbone_only(make_test_model):
    path = make_test_model("r50.safetensors", "--backbone", "resnet50", "--authors-names")
    model = Hyrsm.Model.new_from_file(str(path))
    assert model.props.backbone == "resnet50"
    assert model.props.head == "none"
    assert model.props.feature_dim == 2048


def test_missing_file_raises(tmp_path):
    path = tmp_path / "absent.safetensors"
    with pytest.raises(GLib.Error) as info:
        Hyrsm.Model.new_from_file(str(path))
    assert info.value.matches(Hyrsm.error_quark(), Hyrsm.Error.FILE_NOT_FOUND)
    assert str(path) in info.value.message


def test_corrupt_file_raises(tmp_path):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00[1,2]")
    with pytest.raises(GLib.Error) as info:
        Hyrsm.Model.new_from_file(str(path))
    assert info.value.matches(Hyrsm.error_quark(), Hyrsm.Error.BAD_FORMAT)
    assert str(path) in info.value.message


def test_shared_models_are_one_object(make_test_model):
    path = str(make_test_model("shared.safetensors", "--head", "5shot", "--dim", "64"))
    a = Hyrsm.Model.new_shared(path, "cpu")
    b = Hyrsm.Model.new_shared(path, "cpu")
    assert a is b
