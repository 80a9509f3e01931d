"""Evaluation protocols (LFW-style pairs) and their metrics."""
