"""The `voxgate` command line: one module per command group, each exposing `register`."""
