"""The worker process: consuming, dispatching one message's fate, concurrency, shutdown."""
