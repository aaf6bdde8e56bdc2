"""The FastAPI service: generation, latent walks and arithmetic over cached generators, and training jobs."""
