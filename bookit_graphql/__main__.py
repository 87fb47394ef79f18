"""`python -m bookit_graphql` is the `bookit` command."""

from bookit_graphql.cli import main

main()
