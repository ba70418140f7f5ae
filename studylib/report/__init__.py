"""Reports of the paper's rounds: run a round, then its figures, appendix tables and provenance.

Everything a round notebook shows comes from here, so the notebooks stay short calls and every
round is reported the same way:

* :func:`run_round` runs (or continues) a round's study — one per seed — and returns a
  :class:`RoundRun` (trials as a DataFrame, what produced them, where they are stored);
* ``fig*`` functions draw the paper's figures with seaborn from a ledger DataFrame (or a
  ``RoundRun``) and return a :class:`matplotlib.figure.Figure` with our own title (what it
  shows); under the axes, what the points are and, where the paper has one, its caption quoted;
* :func:`space_table` sets the space a round searched beside the paper's Tables I-III;
  :func:`appendix_table` / :func:`table_iv` rebuild the paper's Appendix 1-3 and Table IV;
* :func:`provenance_block` / :func:`results_block` state what produced the report;
* :mod:`.compare` -- round 4 (run, numbers, figures); :mod:`.regret` -- the one regret-vs-
  evaluations figure (``studylib bench`` and Fig. 11); :mod:`.styles` -- strategy names and
  colours; :mod:`.publish` -- the HTML reports (nothing fetched from a CDN) and ``index.html``;
  :mod:`.folders` -- a report's default folder and its ``summary.json``;
  :mod:`.keep` -- each figure and table drawn from a run also as files (PDF, PNG; CSV, LaTeX).

Functions taking ``data`` accept either a DataFrame as returned by ``Ledger.frame`` /
``StudyResult.frame`` (hyperparameters by their studylib names, ``best_acc``, ``test_acc``,
``status``, ``seed``...) or a :class:`RoundRun`.
"""
from __future__ import annotations

from .figures import (accuracy_by, fig3_learning_rate, fig4_distribution, fig5_optimizer, fig6_activation,
                      fig7_batch_size, fig8_filters, fig9_kernels, per_layer, table_iv_figure)
from .display import Block, notebook_setup, provenance_block, results_block
from .folders import SUMMARY_JSON, default_out_dir, read_summary, write_summary
from .rounds import RoundRun, best_by_seed, run_round, seed_summary
from .tables import PAPER_TABLE_IV, PAPER_TABLES, appendix_table, group_summary, space_table, table_iv

__all__ = [
    "accuracy_by", "fig3_learning_rate", "fig4_distribution", "fig5_optimizer", "fig6_activation",
    "fig7_batch_size", "fig8_filters", "fig9_kernels", "per_layer", "table_iv_figure",
    "SUMMARY_JSON", "Block", "RoundRun", "best_by_seed", "default_out_dir", "notebook_setup",
    "provenance_block", "read_summary", "results_block", "run_round", "seed_summary", "write_summary",
    "PAPER_TABLE_IV", "PAPER_TABLES", "appendix_table", "group_summary", "space_table", "table_iv",
]
