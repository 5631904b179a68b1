"""Replica pools on Ray (an existing distributed engine: no home-made cluster code)."""
