"""Subcommands of the `allocbench` command line, one module each."""
