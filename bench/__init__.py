"""Benchmarks of bayescale against the methods people use today (``python bench/run.py``)."""
