"""The version of wahooks, in a module of its own so that the SDK and the server can read it
without importing the package root (which re-exports the SDK)."""

__version__ = "0.1.0"
