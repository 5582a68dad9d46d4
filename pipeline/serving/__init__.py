"""`predict` and `bench`: a trained run applied to raw notes, and its speed against the transformers pipeline."""
