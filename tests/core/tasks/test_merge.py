"""core.tasks.merge: shards of an evaluation merge into the numbers of one streamed run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.data.stream import ArrayStream
from advinspect.core.errors import AdvInspectError
from advinspect.core.shard import ShardFiles
from advinspect.core.tasks import evaluate, merge
from advinspect.core.tasks.base import make_config


def test_two_shards_merge_into_one_evaluation(tiny_clf, tmp_path):
    x = torch.rand(11, 1, 8, 8, generator=torch.Generator().manual_seed(4)).numpy()
    y = tiny_clf.predict(torch.as_tensor(x)).numpy()
    y[0] = (y[0] + 1) % 3
    config = make_config(evaluate.Config, {"attacks": "fgsm", "eps": "0,0.1", "sanity_checks": False})
    stream = ArrayStream(x, y, [f"{i}.png" for i in range(11)], np.arange(11), batch_size=4)
    meta = {"verb": "evaluate", "fingerprint": "f", "n_total": 11, "spec": tiny_clf.spec.to_dict(),
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.__dict__.items()}}
    files = ShardFiles(tmp_path, 0, 2)
    files.open(meta, resume=False)
    evaluate.stream_rows(tiny_clf, stream.shard(0, 2), config, sink=files.append)
    files.finish({"warnings": ["from rank 0"]})
    with pytest.raises(AdvInspectError, match="shard 1 of 2 never started"):
        merge.run(merge.Inputs(tmp_path), merge.Config())
    files = ShardFiles(tmp_path, 1, 2)
    files.open(meta, resume=False)
    evaluate.stream_rows(tiny_clf, stream.shard(1, 2), config, sink=files.append)
    files.finish({"warnings": []})
    result = merge.run(merge.Inputs(tmp_path), merge.Config())
    whole = evaluate.run_stream(tiny_clf, stream, config)
    assert result.verb == "evaluate" and not result.cancelled
    assert result.summary()["warnings"] == ["from rank 0"]
    assert {k: v for k, v in result.summary().items() if k != "warnings"} == \
        {k: v for k, v in whole.summary().items() if k != "warnings"}
    assert result.to_dict()["samples"] == whole.data["samples"] and result.to_dict()["shards"] == 2
    assert result.report_section().tables[0].rows[0][0] == "fgsm"
