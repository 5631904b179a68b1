"""Evaluation: strategies over benchmarks, measured."""
