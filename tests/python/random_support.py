"""A small model and a support set of random features for it: the fixture
the element tests that only need decisions to flow (not meaningful labels)
share. Random non-negative .hyrsm features, labels "left" and "right"."""
import array
import random

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Hyrsm", "1.0")
from gi.repository import GLib, Hyrsm  # noqa: E402


def crop32_model_and_support(make_test_model, support, name, seed):
    """A ResNet-18 at crop 32 written as @name, and under the folder @support
    two random examples per label: decisions in seconds."""
    path = make_test_model(name, "--backbone", "resnet18",
                           "--meta", "hyrsm.crop=32", "--meta", "hyrsm.resize=36")
    model = Hyrsm.Model.new_from_file(str(path))
    t, d = model.props.frames, model.props.feature_dim
    rng = random.Random(seed)
    for label in ("left", "right"):
        (support / label).mkdir()
        for e in range(2):
            feats = array.array("f", (rng.random() for _ in range(t * d)))
            Hyrsm.features_save(str(support / label / f"ex{e}.hyrsm"), model,
                                GLib.Bytes.new(feats.tobytes()), "test")
    return path, support
