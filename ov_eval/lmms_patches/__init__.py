"""Fixes to lmms-eval 0.7.3 that ov-eval models need, one module per patched lmms-eval area."""
