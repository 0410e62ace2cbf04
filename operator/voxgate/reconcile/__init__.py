"""Reconcile: gather the world (all I/O), decide (pure), apply. No kopf here."""
