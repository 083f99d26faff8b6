# The Pico W image `make firmware BOARD=rp2040` builds, read back from the
# ELF: dora's C hook is linked, every module the manifest ships is frozen in,
# the viper functions are ARMv6-M machine code, and the size report adds up.
# The image comes from the MicroPython kit or MICROPY_DIR (tools/board.py
# built()); without either, the whole file skips with one line.

import os
import re
import shutil
import subprocess

import board
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


try:
    board.micropy_source()
except board.NoSource as e:
    pytest.skip("firmware image: %s" % e, allow_module_level=True)


@pytest.fixture(scope="module")
def image():
    for t in ("arm-none-eabi-nm", "arm-none-eabi-size"):
        assert shutil.which(t), "%s is not on PATH (tools/install_debs.sh toolchain)" % t
    return board.built("PICOW_IMAGE")


def image_bytes(elf):
    """The flash image: firmware.bin, which starts at the XIP flash base."""
    with open(os.path.splitext(elf)[0] + ".bin", "rb") as f:
        return f.read()


def symbol_bytes(elf, syms, name):
    addr, size, _ = syms[name]
    off = addr - board.FLASH_BASE
    return image_bytes(elf)[off:off + size]


def shipped_modules():
    """What manifest.py freezes: every module dora ships, as frozen names."""
    return sorted(rel for _, rel in board.sources())


def test_the_image_links_the_dora_hook_c_module(image):
    syms = board.elf_symbols(image)
    for name in ("dora_hook_module", "dora_hook_stop_builtin_dhcp", "dora_hook_stop_builtin_dhcp_obj"):
        assert name in syms, "%s not in %s" % (name, image)
    # The function is code, the module object lies in flash.
    assert syms["dora_hook_stop_builtin_dhcp"][2] in "tT"
    assert syms["dora_hook_module"][0] >= board.FLASH_BASE


def test_every_module_the_manifest_ships_is_frozen_in(image):
    syms = board.elf_symbols(image)
    names = symbol_bytes(image, syms, "mp_frozen_names").split(b"\0")
    frozen = sorted(n.decode() for n in names if n)
    missing = [m for m in shipped_modules() if m not in frozen]
    assert not missing, "not frozen in %s: %s (frozen: %s)" % (image, missing, frozen)
    # The port's own asyncio is frozen beside dora: dora.runner needs it.
    assert "asyncio/core.py" in frozen
    # picotool reads the same list from the image's binary info.
    picotool = os.path.join(os.getenv("PICOTOOL_FETCH_FROM_GIT_PATH", ""), "picotool", "picotool")
    if os.path.exists(picotool):
        out = subprocess.run([picotool, "info", "-a", os.path.splitext(image)[0] + ".uf2"],
                             capture_output=True, text=True, check=True).stdout
        listed = re.search(r"frozen modules:(.*?)\n \S", out, re.S).group(1)
        listed = {n.strip() for n in listed.replace("\n", " ").split(",")}
        for m in shipped_modules():
            name = m[:-3].replace("/__init__", "")
            assert name in listed, (name, sorted(listed))


# A 32-bit Thumb-2 instruction starts with a halfword whose top five bits are
# one of these; ARMv6-M (the RP2040's Cortex-M0+) has almost none of them and
# MicroPython's armv6m emitter uses none, while its armv7m emitter does.
THUMB2_PREFIXES = (0b11101, 0b11110, 0b11111)


def thumb1_halfwords(code):
    """The halfwords of armv6m viper code, skipping the inline 32-bit
    constants its emitter writes as `ldr rN, [pc, #0]; b.n +2; .word K`."""
    out = []
    i = 0
    while i + 1 < len(code):
        hw = code[i] | code[i + 1] << 8
        out.append(hw)
        i += 2
        if hw & 0xF8FF == 0x4800 and code[i:i + 2] == b"\x01\xe0":  # ldr rN, [pc, #0] then b.n over 4 bytes
            out.append(0xE001)
            i += 6
    return out


def viper_functions_in_sources():
    n = 0
    for src, _ in board.sources():
        with open(src) as f:
            n += sum(1 for line in f if line.strip() == "@micropython.viper")
    return n


def test_the_viper_functions_are_armv6m_machine_code(image):
    """mpy-tool freezes native code as fun_data_<module>... arrays placed in
    .text (bytecode goes to .rodata): one per viper function dora ships, and
    each must be Cortex-M0+ code, not bytecode or another CPU's."""
    syms = board.elf_symbols(image)
    native = sorted(n for n, (_, _, kind) in syms.items()
                    if n.startswith("fun_data_dora") and kind in "tT")
    assert len(native) == viper_functions_in_sources() > 0, native
    for name in native:
        code = symbol_bytes(image, syms, name)
        hws = thumb1_halfwords(code)
        assert hws[0] & 0xFF00 == 0xB500, "%s: does not start with push {..., lr}: %04x" % (name, hws[0])
        assert hws[-1] & 0xFF00 == 0xBD00, "%s: does not end with pop {..., pc}: %04x" % (name, hws[-1])
        wide = [hex(h) for h in hws if h >> 11 in THUMB2_PREFIXES]
        assert not wide, "%s: 32-bit Thumb-2 instructions, not armv6m: %s" % (name, wide[:5])


def test_the_report_adds_up_and_shows_what_dora_adds(image, capsys):
    stock = board.built("PICOW_STOCK_IMAGE")
    board_dir = os.path.join(os.path.dirname(os.path.dirname(image)), "boards", "RPI_PICO_W")  # ports/rp2/boards
    f = board.image_figures(image, board_dir)
    s = board.image_figures(stock, board_dir)
    out = subprocess.run(["arm-none-eabi-size", image], capture_output=True, text=True, check=True).stdout
    assert [f["text"], f["data"], f["bss"]] == [int(x) for x in out.splitlines()[1].split()[:3]]
    # Flash used is the .bin's length give or take the linker's alignment.
    assert abs(f["flash"] - len(image_bytes(image))) < 64
    # The firmware area ends where the board's filesystem begins, as the
    # image's own binary info says (picotool's "embedded drive").
    picotool = os.path.join(os.getenv("PICOTOOL_FETCH_FROM_GIT_PATH", ""), "picotool", "picotool")
    if os.path.exists(picotool):
        info = subprocess.run([picotool, "info", "-a", os.path.splitext(image)[0] + ".uf2"],
                              capture_output=True, text=True, check=True).stdout
        drive = int(re.search(r"embedded drive:\s+0x([0-9a-f]+)-", info).group(1), 16)
        assert f["area"] == drive - board.FLASH_BASE
    assert 0 < f["left"] < f["area"]
    # dora's frozen modules and hook cost flash; what they cost in RAM is shown.
    assert f["flash"] > s["flash"]
    lines = board.report_lines(image, board_dir, stock)
    with capsys.disabled():
        print()
        for line in lines:
            print("firmware report: " + line)
    assert "over the stock image" in lines[-1] and "flash +%d B" % (f["flash"] - s["flash"]) in lines[-1]


def test_firmware_args_skip_submodules_only_when_they_are_there(tmp_path):
    """The kit is no git checkout: `make submodules` would fail there, so it
    runs only when the port's submodules are missing."""
    have = tmp_path / "have"
    (have / "lib" / "pico-sdk" / "src").mkdir(parents=True)
    args, image = board.firmware_make_args("rp2040", str(have))
    assert not any("submodules" in a for a in args)
    assert args[0] == ["-C", str(have / "mpy-cross")]
    assert args[-1][:3] == ["-C", str(have / "ports" / "rp2"), "BOARD=RPI_PICO_W"]
    assert image == str(have / "ports" / "rp2" / "build-RPI_PICO_W" / "firmware.uf2")
    args, _ = board.firmware_make_args("rp2040", str(tmp_path / "bare"))
    assert ["-C", str(tmp_path / "bare" / "ports" / "rp2"), "BOARD=RPI_PICO_W", "submodules"] in args
