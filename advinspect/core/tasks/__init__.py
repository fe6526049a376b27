"""One module per verb: the work behind `advinspect <verb>` and the GUI panel of the same name.

`gui` and `cli` call these; these call the rest of `core`. Each module has `Config`, `run` and a
`Result` with `summary()`, `summary_text()` and `to_dict()` (see `base.py`)."""

VERBS = ("open", "predict", "attack", "saliency", "evaluate", "compare", "defend", "certify", "detect",
         "train", "report")
