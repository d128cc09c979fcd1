"""Test support: a real `wahooks serve` process, real receivers on 127.0.0.1, an API client."""
