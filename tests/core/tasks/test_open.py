"""core.tasks.open: fields become a spec; the demo opens and describes itself."""

from __future__ import annotations

import pytest

from advinspect.core.data.demo import DEMO_MODEL
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import open
from advinspect.core.tasks.base import make_config


def test_fields_make_a_spec(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    config = make_config(open.Config, {"input_shape": "3,8,8", "mean": "0.5,0.4,0.3", "std": "0.2",
                                       "value_range": "0,255", "labels": str(labels), "resize": "center-crop"})
    spec = config.spec()
    assert spec.input_shape == (3, 8, 8) and spec.mean == (0.5, 0.4, 0.3) and spec.value_range == (0.0, 255.0)
    assert spec.labels == ("cat", "dog") and spec.resize == "center-crop"
    assert open.Config().spec() is None
    with pytest.raises(AdvInspectError, match="whole positive"):
        make_config(open.Config, {"input_shape": "3,8.5,8"}).spec()
    with pytest.raises(AdvInspectError, match="two numbers"):
        make_config(open.Config, {"value_range": "0,1,2"}).spec()
    with pytest.raises(AdvInspectError, match="resize"):
        make_config(open.Config, {"resize": "stretch"})


def test_opens_the_demo():
    result = open.run(open.Inputs(DEMO_MODEL), open.Config(device="cpu"))
    assert result.info["num_classes"] == 10 and result.clf.spec.input_shape == (1, 32, 32)
    text = "\n".join(result.summary_text())
    assert "sha256" in text and "136,586" in text
