# HOST-ONLY FAKE of MicroPython's `machine` module (see network.py beside
# it; the port is network.PORT).  Records watchdog feeds, LED writes and
# resets, and rejects what the port's driver rejects.  Never on a board.
# Followed, in MicroPython v1.28.0:
#   extmod/machine_wdt.c          machine_wdt_make_new (id, timeout arguments)
#   ports/rp2/machine_wdt.c       mp_machine_wdt_make_new_instance (8388 ms cap)
#   ports/esp32/machine_wdt.c     mp_machine_wdt_make_new_instance (> 0 ms)
#   ports/rp2/machine_pin.c       machine_pin_find, machine_pin_obj_init_helper
#   ports/esp32/machine_pin.c     machine_pin_find, machine_pin_obj_init_helper
#   ports/rp2/machine_spi.c       machine_spi_make_new (buses 0 and 1)
#   ports/esp32/machine_hw_spi.c  machine_hw_spi_make_new (buses 1 and 2)

import network
from network import CALLS

RP2_WDT_MAX_MS = 8388  # 0xffffff / 2 / 1000: the RP2040 counter at 2 ticks per us

# Pin numbers the port's pin table holds.
_RP2_GPIOS = 30
_ESP32_GPIOS = tuple(range(24)) + (25, 26, 27) + tuple(range(32, 40))
_ESP32_FIRST_INPUT_ONLY = 34
# Named pins of the rp2 images (board names, then CPU names; the Pico W's
# LED and WL_GPIOn are on the radio chip: "external" pins).
_RP2_EXT = ("LED", "WL_GPIO0", "WL_GPIO1", "WL_GPIO2", "EXT_GPIO0", "EXT_GPIO1", "EXT_GPIO2")


def _port():
    return network.PORT


def _int(v):
    return network._int(v)


def pin_id(pin):
    """machine_pin_find: a Pin, a pin number of the port's table, or (rp2)
    a pin name; anything else is refused."""
    if isinstance(pin, Pin):
        return pin.id
    if _port() == "rp2":
        if isinstance(pin, str):
            if pin in _RP2_EXT:
                return pin
            for prefix in ("GPIO", "GP"):
                n = pin[len(prefix):]
                if pin.startswith(prefix) and n.isdigit() and int(n) < _RP2_GPIOS:
                    return int(n)
            raise ValueError('unknown named pin "%s"' % pin)
        if isinstance(pin, int) and 0 <= pin < _RP2_GPIOS:
            return int(pin)
        raise ValueError("invalid pin")
    if isinstance(pin, int) and pin in _ESP32_GPIOS:
        return int(pin)
    raise ValueError("invalid pin")  # the generic ESP32 board names no pins


class WDT:
    def __init__(self, *args, **kw):
        names = ("id", "timeout")
        if len(args) > 2:
            raise TypeError("function takes at most 2 positional arguments")
        values = {"id": 0, "timeout": 5000}
        for name, v in zip(names, args):
            values[name] = v
        for k in kw:
            if k not in names:
                raise TypeError("unexpected keyword argument '%s'" % k)
            values[k] = kw[k]
        wdt_id, timeout = _int(values["id"]), _int(values["timeout"])
        if _port() == "rp2":
            if wdt_id != 0:
                raise ValueError("WDT(%d) doesn't exist" % wdt_id)
            if timeout & 0xFFFFFFFF > RP2_WDT_MAX_MS:  # compared as uint32_t
                raise ValueError("timeout exceeds %d" % RP2_WDT_MAX_MS)
        else:
            if wdt_id != 0:
                raise ValueError()
            if timeout <= 0:
                raise ValueError("WDT timeout too short")
        CALLS.append(("WDT", timeout))

    def feed(self):
        CALLS.append(("WDT.feed", None))


class Pin:
    # Mode numbers differ: rp2 has its own, the ESP32 uses ESP-IDF's gpio_mode_t.
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2

    def __init__(self, id, mode=None, pull=None, **kw):
        rp2 = _port() == "rp2"
        allowed = ("value", "alt") if rp2 else ("value", "drive", "hold")
        for k in kw:
            if k not in allowed:
                raise TypeError("unexpected keyword argument '%s'" % k)
        self.id = pin_id(id)
        external = rp2 and isinstance(self.id, str)
        if mode is not None:
            mode = _int(mode)
            if not rp2 and self.id >= _ESP32_FIRST_INPUT_ONLY and mode & 2:  # GPIO_MODE_DEF_OUTPUT
                raise ValueError("pin can only be input")
        if external and pull is not None:
            raise ValueError("pulls are not supported for external pins")
        if external and kw.get("alt") is not None:
            raise ValueError("alternate functions are not supported for external pins")

    def value(self, v=None):
        if v is not None:
            CALLS.append(("Pin.value", v))


class SPI:
    _ARGS = ("baudrate", "polarity", "phase", "bits", "firstbit", "sck", "mosi", "miso")

    def __init__(self, id, *args, **kw):
        for k in kw:
            if k not in self._ARGS:
                raise TypeError("unexpected keyword argument '%s'" % k)
        self.id = _int(id)
        buses = (0, 1) if _port() == "rp2" else (1, 2)
        if self.id not in buses:
            raise ValueError("SPI(%d) doesn't exist" % self.id)


class ResetCalled(Exception):
    """machine.reset() does not return on a board; here it raises this."""


def reset():
    CALLS.append(("reset", None))
    raise ResetCalled()


def _use_port_constants():
    # gpio_mode_t on the ESP32: INPUT 1, INPUT_OUTPUT 3, INPUT_OUTPUT_OD 7.
    if _port() == "rp2":
        Pin.IN, Pin.OUT, Pin.OPEN_DRAIN = 0, 1, 2
    else:
        Pin.IN, Pin.OUT, Pin.OPEN_DRAIN = 1, 3, 7


def use(port):
    """Switch both fakes to `port` (network.use plus this module's constants)."""
    network.use(port)
    _use_port_constants()


_use_port_constants()
