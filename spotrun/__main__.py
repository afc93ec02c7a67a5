import sys

from spotrun.cli import main

sys.exit(main())
