"""Blind pairwise user study (paper Sec. 4, Table 2), in three modules:

* `trials`: the study prompts, the pairing (prompt, seed, sides drawn per trial) and one trial's two videos;
* `votes`: what a ballot may say, its CSV rows and the append-only vote store;
* `analysis`: the Table 2 layout, Bradley–Terry strengths with bootstrap intervals, the report and its CLI
  (``python -m mimir study report --votes FILE``).

Nothing here imports gradio. This file imports nothing, so the report CLI never loads torch (`trials` does, ~2 s).
"""
