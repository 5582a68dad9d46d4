"""`python -m pipeline train`: fit a model on `outputs/data/` and record the run (config, metrics, predictions, tracking)."""
