"""`make reproduce`: the papers' tables and figures regenerated from configs.

- ``spec``: table specs (``conf/reproduce/*.yaml``), profiles and published numbers → planned runs;
- ``store``: every run's directory found by a hash of its overrides; finished = has result.json;
- ``launch``: runs the pending runs (subprocess per run, a batch worker, or a Hydra multirun
  with the joblib / submitit launcher);
- ``ledger``: the committed records of finished runs (``outputs/ledger/``); ``freshness``: is a
  record still what the current code gives (results class, composed config); ``records``: a
  planned run's current record, from the ledger or the store; ``sync``: copies finished runs in;
- ``aggregate`` / ``figures`` / ``readme``: tables (Markdown + CSV), plots, README block.
"""
