"""The report layer: everything that writes (or reads back) a run folder.

The computing modules (:mod:`escalation.experiment`, :mod:`escalation.backtest`) return typed results and
never touch the file system; these modules turn them into run folders:

- :mod:`escalation.report.folder` - the run folder, its manifest and atomic writes;
- :mod:`escalation.report.summary` - the typed run summary (``summary.json``), read back by sweeps;
- :mod:`escalation.report.experiment` - an experiment's tables, figures and summary;
- :mod:`escalation.report.backtest` - a backtest's scores, fans, PIT and reliability diagrams;
- :mod:`escalation.report.sweep` - the aggregate of a sweep's point folders.

Imports run one way: the report layer imports the computing modules, never the reverse.
"""
