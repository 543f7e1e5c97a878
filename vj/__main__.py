import sys

from vj.cli import main

sys.exit(main())
