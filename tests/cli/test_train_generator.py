"""`advinspect train-generator` then `--defense purify:GENERATOR` on another command; a generator
that does not fit the model is one line naming both shapes."""

from __future__ import annotations

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL


def test_train_a_generator_then_purify_through_it(small_set, tmp_path, capsys):
    gen = tmp_path / "gen.pt"
    assert main(["train-generator", str(small_set), "--model", str(DEMO_MODEL), "--epochs", "2",
                 "--latent-dim", "8", "--out", str(gen)]) == 0
    assert gen.is_file() and (tmp_path / "gen.pt.generator.json").is_file()
    assert "G(z)" in (tmp_path / "gen.pt.report.html").read_text()
    capsys.readouterr()
    assert main(["defend", str(DEMO_MODEL), str(small_set), "--defense", f"purify:{gen}", "--purify-restarts", "2",
                 "--purify-steps", "5"]) == 0
    out = capsys.readouterr().out
    assert "purify by gen.pt (R 2 × L 5)" in out and "purify costs about" in out


def test_a_generator_of_another_shape_is_one_line(tmp_path, small_set, capsys):
    from advinspect.core.defenses.purify import Decoder, save_generator

    gen = save_generator(Decoder(4, (1, 8, 8), hidden=8), 4, tmp_path / "small.pt")
    capsys.readouterr()
    assert main(["defend", str(DEMO_MODEL), str(small_set), "--defense", f"purify:{gen}"]) == 1
    assert capsys.readouterr().err.strip() == ("advinspect: error: small.pt draws images of shape (1, 8, 8) but the "
                                               "model takes (1, 32, 32) (C,H,W)")
