"""CLI subcommands: each module exports NAME, HELP, add_arguments(parser) and run(args) -> int."""
