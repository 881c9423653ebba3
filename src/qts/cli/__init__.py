"""The `qts` command line: one module per subcommand."""
