"""Generators: the models strategies sample from, behind one protocol (base.py): ponder's engine (local.py) and any
OpenAI-compatible server (openai.py). ponder.runtime builds them from what the user chose."""
