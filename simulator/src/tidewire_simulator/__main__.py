import sys

from tidewire_simulator.process import main

sys.exit(main())
