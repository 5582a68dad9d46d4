"""What every layer shares: tags, documents, atomic files, the layout of `outputs/`, errors, scoring, worker
processes."""
