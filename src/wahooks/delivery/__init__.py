"""Getting events to receivers: the dispatcher (claim, send, record), the sender (one signed POST),
the retry policy and the target policy."""
