"""Configuration shared by the API, the worker and the CLI (`config.settings.CommonSettings`)."""
