"""`python -m cli` is `gan`."""

from cli.main import main

main()
