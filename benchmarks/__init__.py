"""Benchmarks for hopper_jax (quality vs peers, engine overhead)."""
