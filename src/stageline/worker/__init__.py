"""A worker machine: takes jobs from a Celery queue and runs them with `stageline.runner`
against the team server's API (ADR 0012). Nothing of the engine or the store is imported
here: a worker holds no state that matters."""
