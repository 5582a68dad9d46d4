"""`python -m pipeline data`: read a corpus (brat, JSONL, parquet, hub), convert, group, split and tier it."""
