"""Data shipped with romanus (found by package resources, never by working-directory paths).

``traces/``: small synthetic capacity traces made by ``scripts/make_bundled_traces.py``; use
them as ``builtin:NAME`` in a preset's ``uplink.trace`` or on the command line.
"""
