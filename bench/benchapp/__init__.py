"""A Django app for bench/sync.py: registers the functions the benchmark's rows name."""
