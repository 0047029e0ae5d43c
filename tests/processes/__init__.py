"""Tests of real processes (``runscheduler``, ``schedulerstatus``, ``db_worker``).

The package is also the Django app those processes install: its ``tasks`` module registers
the functions they run. The test process itself does not install it.
"""
