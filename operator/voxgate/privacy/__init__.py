"""Differential-privacy accounting: what a DP-SGD run costs and what a dataset has left.

Pure modules (no kopf, no kubernetes): `params` (the typed DP-SGD parameters), `accountant`
(epsilon of one run, noise for a target, composition of many runs), `ledger` and `ledger_json`
(the per-dataset ledger and its document), `runtime` (what training code reads inside the pod).
`store` is the one module that talks to the API server.

This package module imports nothing on purpose: training code imports `voxgate.privacy.runtime`
and should not pay for numpy, scipy or the kubernetes client to read six settings.
"""
