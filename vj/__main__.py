import sys

from vj.cli import main

if __name__ == "__main__":  # guarded: generator child processes (spawn) import this module
    sys.exit(main())
