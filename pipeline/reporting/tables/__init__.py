"""Tables of the report: pandas DataFrames built from the pipeline's JSON, one module per page.

- `formatting`: what every table shares (`Table`, the HTML a notebook shows; cell formats; the table
  in place of a section not measured yet)
- `corpus`: the data page (corpus, split, tiers, types, lengths, conversion, the leak of a row split)
- `compare`: the comparison and summary pages (the requirements-first selection, the comparison and
  decision matrices, paired bootstraps, the best model per type)
- `model`: a model's page (scores, per type and tier, what it chose on validation)
- `errors`: the error analysis (taxonomy, confusions, match rates, patterns, lengths, examples)
- `production`: confidence, readiness and the deployment policy (thresholds, calibration, high-risk
  and high-value types)
- `speed`: speed, cost and memory from bench.json
- `experiments`: the ablation, the combined model against the CRF, and the seeds
"""
