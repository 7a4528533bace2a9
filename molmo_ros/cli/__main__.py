import sys

from molmo_ros.cli import main

sys.exit(main())
