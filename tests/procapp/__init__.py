"""Functions for the runscheduler processes started by the real-process tests."""
