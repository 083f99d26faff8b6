# dora: a memory-frugal DHCPv4 server and client for MicroPython boards
# (ESP32 soft-AP, Pico W) that runs unchanged on CPython.
__version__ = "0.1.0"
