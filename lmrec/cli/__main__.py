"""`python -m lmrec.cli`."""

from lmrec.cli import main

main()
