"""Black-box tests of the HTTP API against a real `wahooks serve` (compat.md sections 1.1-1.3)."""
