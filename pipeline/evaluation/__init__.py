"""`analyze` and `compare`: scores with intervals, error taxonomy, confidence, readiness and their figures."""
