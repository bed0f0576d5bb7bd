"""NanoBench: text-faithfulness checks on nano-world videos with classical image processing (no learned model).

`score_video(frames, spec)` judges one video; `aggregate` / `format_table` summarise; `cli_main` runs suites.
Imports are light: nothing here loads a model.
"""

from mimir.bench.report import aggregate, format_table, wilson_interval
from mimir.bench.scorer import score_video


__all__ = ["aggregate", "format_table", "score_video", "wilson_interval"]
