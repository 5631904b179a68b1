"""Generators: the models strategies sample from, behind one protocol (base.py)."""
