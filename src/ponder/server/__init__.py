"""ponder serve: an OpenAI-compatible HTTP API with test-time scaling. protocol.py: the wire format; serving.py:
the runtime, limits and slots, and a request's plan; events.py: the one event source of a request; reply.py:
events to a body or to server-sent events; chat.py, completions.py: the two endpoints; metrics.py: Prometheus;
app.py: routes, authentication, errors."""
