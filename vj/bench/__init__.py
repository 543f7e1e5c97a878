"""Benchmarks shipped with vj: `vj bench render` and `vj bench gen`. Each compares against a named
baseline in the same run and reports ratios (these machines are too noisy for absolute targets)."""
