"""One module per ``iovst`` subcommand (named after it): ``add_arguments(parser)`` and ``run(args)``."""
