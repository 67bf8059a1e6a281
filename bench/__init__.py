"""Benchmarks: each prints ratios against a peer or the physical limit measured in the same run."""
