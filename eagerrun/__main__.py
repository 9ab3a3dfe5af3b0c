"""`python -m eagerrun` works like the `eagerrun` command."""

from eagerrun.cli import main

if __name__ == "__main__":
    main()
