"""One module per subcommand: `register(subparsers)` and a handler that imports what it needs."""
