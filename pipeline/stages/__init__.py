"""`python -m pipeline all`: data -> train -> analyse -> bench -> compare -> report, each stage cached.

- `table`: the stages of `all` (`plan_stages`), each with its config, its entry modules and its action;
- `cache`: what a stage's key hashes (its config, the code it runs, its upstream stages, what else it
  reads) and the record a stage leaves;
- `runner`: runs the table in order, reusing a stage whose key matches its record (`run_all`), in a
  fresh process where a stage records its peak memory.
"""
