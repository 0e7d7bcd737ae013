"""`python -m pysupervise` runs the same CLI as the `pysupervise` script."""

from pysupervise.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
