"""Models and their inputs: wordpiece windows, decoding, the Trainer wrapper, inference backends, the CRF."""
