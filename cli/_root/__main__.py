"""`python -m backprop` runs the command line."""

from backprop.cli.main import main

main()
