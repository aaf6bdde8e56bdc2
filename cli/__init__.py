"""`gan`: the command line: serve, worker, train, generate, models and export."""
