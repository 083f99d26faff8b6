# HOST-ONLY FAKE of MicroPython's `machine` module (see network.py beside
# it): records watchdog feeds, LED writes and resets.  Never on a board.

from network import CALLS


class WDT:
    def __init__(self, timeout):
        CALLS.append(("WDT", timeout))

    def feed(self):
        CALLS.append(("WDT.feed", None))


class Pin:
    OUT = 1

    def __init__(self, pin, mode=None):
        self.pin = pin

    def value(self, v=None):
        if v is not None:
            CALLS.append(("Pin.value", v))


class SPI:
    def __init__(self, n):
        self.n = n


class ResetCalled(Exception):
    """machine.reset() does not return on a board; here it raises this."""


def reset():
    CALLS.append(("reset", None))
    raise ResetCalled()
