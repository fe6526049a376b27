"""core.shard with the streamed evaluation: shards, batch sizes and a resumed shard give the
same per-sample rows, byte for byte, and the same summary as one uninterrupted run."""

from __future__ import annotations

import weakref

import numpy as np
import pytest
import torch

from advinspect.core.data.stream import ArrayStream, StreamBatch
from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier
from advinspect.core.shard import ShardFiles, merge_shards, row_line
from advinspect.core.tasks import evaluate
from advinspect.core.tasks.base import make_config
from tests.conftest import TinyCNN

N = 23  # odd, and not a multiple of any batch size or shard count used here


@pytest.fixture(scope="module")
def clf():
    torch.manual_seed(0)
    return TorchClassifier(TinyCNN().eval(), ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c")),
                           torch.device("cpu"))


@pytest.fixture(scope="module")
def data(clf):
    x = torch.rand(N, 1, 8, 8, generator=torch.Generator().manual_seed(1)).numpy()
    y = clf.predict(torch.as_tensor(x)).numpy()
    y[:5] = (y[:5] + 1) % 3  # some wrong before the attack
    return x, y


# pgd's random start exercises the per-sample seeds; its eps=0 point the exact comparison
CONFIG = make_config(evaluate.Config, {"attacks": "pgd", "eps": "0,0.1", "steps": "2",
                                       "sanity_checks": False})


def stream(data, batch_size):
    x, y = data
    return ArrayStream(x, y, [f"img{i}.png" for i in range(N)], np.arange(N), batch_size=batch_size)


def lines(rows):
    return [row_line(r) for r in rows]


def comparable(summary):
    return {k: v for k, v in summary.items() if k != "warnings"}


@pytest.fixture(scope="module")
def reference(clf, data):
    return evaluate.run_stream(clf, stream(data, 64), CONFIG)


def test_batch_size_does_not_change_rows(clf, data, reference):
    other = evaluate.run_stream(clf, stream(data, 7), CONFIG)
    assert lines(other.rows) == lines(reference.rows)
    assert other.summary() == reference.summary()
    assert [r["index"] for r in reference.rows] == list(range(N))
    assert len(reference.data["samples"]) == N and "logits" not in reference.data["samples"][0]


def test_streamed_numbers_match_the_in_memory_evaluation(clf, data, reference):
    from advinspect.core.tasks.base import Images

    x, y = data
    whole = evaluate.run(evaluate.Inputs(clf, Images(x, y)), CONFIG)
    assert reference.data["clean_accuracy"] == whole.data["clean_accuracy"]
    for mine, theirs in zip(reference.data["curves"], whole.data["curves"], strict=True):
        assert mine["attack"] == theirs["attack"] and mine["eps"] == theirs["eps"]
        assert mine["robust_accuracy"] == pytest.approx(theirs["robust_accuracy"])
    assert reference.data["confusion"] == whole.data["confusion"]
    assert reference.data["calibration"]["ece"] == pytest.approx(whole.data["calibration"]["ece"], abs=1e-6)


@pytest.mark.parametrize("world", [2, 3])  # 1: the reference itself (tests/cli/test_merge.py runs 1, 2, 3 with torchrun)
def test_shards_merge_to_the_same_rows_and_summary(clf, data, reference, tmp_path, world):
    meta = {"fingerprint": "run", "n_total": N}
    for rank in range(world):
        files = ShardFiles(tmp_path, rank, world)
        files.open(meta, resume=False)
        rows, cancelled = evaluate.stream_rows(clf, stream(data, 5).shard(rank, world), CONFIG, sink=files.append)
        assert not cancelled
        files.finish({"warnings": []})
    merged = merge_shards(tmp_path)
    assert merged.complete and lines(merged.rows) == lines(reference.rows)
    data_merged = evaluate.aggregate(merged.rows, CONFIG, clf.spec)
    assert comparable(evaluate.Streamed(data_merged, merged.rows, CONFIG).summary()) == \
        comparable(reference.summary())
    raw = b"".join((tmp_path / f"rows-{r}-of-{world}.jsonl").read_bytes() for r in range(world))
    assert raw == "".join(line + "\n" for line in lines(reference.rows)).encode()


def test_a_stopped_shard_resumes_after_its_last_row(clf, data, reference, tmp_path):
    meta = {"fingerprint": "run", "n_total": N}
    zero = ShardFiles(tmp_path, 0, 2)
    zero.open(meta, resume=False)
    evaluate.stream_rows(clf, stream(data, 4).shard(0, 2), CONFIG, sink=zero.append)
    zero.finish({})
    part = stream(data, 4).shard(1, 2)  # samples 12..22
    first = ShardFiles(tmp_path, 1, 2)
    first.open(meta, resume=False)
    token = CancelToken()

    def sink(rows):  # Ctrl-C (or a kill) after the second batch was written
        first.append(rows)
        if first.n_rows >= 8:
            token.cancel()

    rows, cancelled = evaluate.stream_rows(clf, part, CONFIG, sink=sink, cancel=token)
    first.close()
    assert cancelled and 0 < len(rows) < len(part)
    with open(first.rows, "a", encoding="utf-8") as f:  # a kill in the middle of a write
        f.write('{"index": 99, "fi')
    with pytest.raises(AdvInspectError, match="did not finish"):
        merge_shards(tmp_path)
    with pytest.raises(AdvInspectError, match="--resume"):
        ShardFiles(tmp_path, 1, 2).open(meta, resume=False)
    with pytest.raises(AdvInspectError, match="another run"):
        ShardFiles(tmp_path, 1, 2).open({"fingerprint": "other"}, resume=True)
    again = ShardFiles(tmp_path, 1, 2)
    done = again.open(meta, resume=True)
    assert lines(done) == lines(rows)  # the torn line is gone
    rest = part.window(part.start + len(done), part.end)
    evaluate.stream_rows(clf, rest, CONFIG, sink=again.append, done=done)
    again.finish({})
    assert lines(merge_shards(tmp_path).rows) == lines(reference.rows)


def test_the_stream_never_holds_more_than_a_batch_or_two(clf):
    """A stream of 12 batches whose images are tracked: if the evaluation kept images (or
    concatenated the set), many would be alive at once."""
    alive, peak = [0], [0]

    def release() -> None:
        alive[0] -= 1

    class Tracked:
        def __len__(self) -> int:
            return 12 * 4

        def __iter__(self):
            for k in range(12):
                x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(k))
                alive[0] += 1
                peak[0] = max(peak[0], alive[0])
                weakref.finalize(x, release)
                yield StreamBatch(x, np.zeros(4, np.int64), np.arange(4 * k, 4 * k + 4), ["f"] * 4, [])
                del x

    config = make_config(evaluate.Config, {"attacks": "fgsm", "eps": "0.1", "sanity_checks": False})
    written = []
    rows, _ = evaluate.stream_rows(clf, Tracked(), config, sink=written.append)
    assert len(rows) == 48 and sum(map(len, written)) == 48
    assert peak[0] <= 2


def test_nccl_only_when_each_local_rank_has_a_gpu_of_its_own(monkeypatch):
    import torch

    from advinspect.core.shard import Rank, backend_for

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert backend_for("cpu", Rank(0, 2, 0)) == "gloo"
    assert backend_for("cuda:0", Rank(0, 2, 0)) == "gloo"  # two ranks on one GPU: NCCL refuses
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert backend_for("cuda:1", Rank(1, 2, 1)) == "nccl"
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")  # two machines of one GPU each
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert backend_for("cuda:0", Rank(1, 2, 0)) == "nccl"
