"""One module per `t2sql` subcommand; each exposes `register(subparsers)`."""
