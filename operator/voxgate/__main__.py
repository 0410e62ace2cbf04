import sys

from voxgate.cli.main import main

sys.exit(main())
