"""ponder serve: an OpenAI-compatible HTTP API with test-time scaling (protocol.py: the wire format;
serving.py: requests to strategies; app.py: routes, authentication, errors)."""
