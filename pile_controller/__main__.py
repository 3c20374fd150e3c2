"""`pile-controller` and `python -m pile_controller`: the daemon, with Python's cyclic garbage
collector off while it boots. What boot builds (modules, settings, the core) lives as long as
the daemon, so collecting meanwhile is wasted: about a tenth of the boot here. Once up, the
daemon freezes what it built out of the collector's way and turns it back on."""

import gc
import sys


def main() -> int:
    gc.disable()
    from pile_controller.service.start import main as daemon_main

    return daemon_main()


if __name__ == "__main__":
    sys.exit(main())
