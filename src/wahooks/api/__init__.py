"""The HTTP API: routes under /api, one error mapping, dependencies in deps.py."""
