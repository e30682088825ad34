"""Throughput harness for the ``llava_onevision`` adapter; run it with ``python -m bench``.

It lives outside the ``ov_eval`` package on purpose: it is a measuring instrument
for developers, not something an evaluation run imports, and it must be able to
drive lmms-eval's own ``llava_hf`` adapter as the baseline in the same process.
"""
