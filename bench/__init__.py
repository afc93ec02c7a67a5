"""spotrun benchmarks: `python -m bench` (or `make bench`) prints a table and writes bench/results.json."""
