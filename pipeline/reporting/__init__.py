"""`python -m pipeline report`: execute the notebooks on the JSON of every stage and render the site and PDF."""
