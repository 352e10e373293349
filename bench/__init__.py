"""Load and scale benchmarks of meetbook; `python -m bench.run --help`."""
