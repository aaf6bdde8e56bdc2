"""Shared domain code: networks, losses, job spec, latents, images, checkpoints and the registry.

Nothing here imports fastapi, rq, redis or the settings: paths, devices and callbacks arrive as arguments.
"""
