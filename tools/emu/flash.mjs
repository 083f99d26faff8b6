// Peripheral model for board.mjs --attach: flash that can be erased and
// programmed, kept in a file so that it outlives the emulator process.
//
// rp2040js maps flash as plain memory but models no flash chip behind the
// SSI, so the erase and program commands the bootrom sends go nowhere.  The
// rp2 port writes its filesystem through the pico-sdk, which looks up the
// bootrom's flash_range_erase and flash_range_program in the ROM function
// table and calls them.  That call is the narrowest point: the entries of
// those two ROM routines are replaced (in the emulator's copy of the ROM
// only) by a breakpoint and a return, and the breakpoint does the work on
// the emulated flash with NOR flash rules: erase sets a 4 KB sector to 0xFF,
// programming can only clear bits (new = old AND data).
//
// Environment:
//   DORA_FLASH_FILE  the flash image file.  Created from the firmware image
//                    on first use; afterwards everything past the firmware
//                    (the filesystem) is loaded from it, and every erase or
//                    program is written through to it at once, so killing
//                    the emulator at any moment keeps each finished operation
//                    and loses only the one under way.
//   Without it the flash still erases and programs, in memory only.
//
// Each operation also costs simulated time, a typical SPI NOR figure
// (sector erase 45 ms, page program 0.7 ms), as the CPU waits for the chip.
import { closeSync, existsSync, openSync, readSync, writeSync } from 'node:fs';

export const FLASH_BYTES = 2 * 1024 * 1024; // the W5500-EVB-Pico's flash chip
const SECTOR = 4096;
const PAGE = 256;
const ERASE_NANOS = 45e6;
const PAGE_NANOS = 0.7e6;
const BKPT_ERASE = 0xe0;
const BKPT_PROGRAM = 0xe1;

function romCode(a, b) {
  return a.charCodeAt(0) | (b.charCodeAt(0) << 8);
}

/** Address of a bootrom function, from the table the ROM points to at 0x14. */
export function romFunction(bootrom, name) {
  const rom = new DataView(bootrom.buffer, bootrom.byteOffset, bootrom.byteLength);
  const want = romCode(name[0], name[1]);
  for (let at = rom.getUint16(0x14, true); at + 4 <= rom.byteLength; at += 4) {
    const code = rom.getUint16(at, true);
    if (code === 0) break;
    if (code === want) return rom.getUint16(at + 2, true) & ~1;
  }
  throw new Error(`bootrom has no function ${name}`);
}

export class EmulatedFlash {
  constructor(mcu, { path = null, firmwareBytes = 0 } = {}) {
    this.mcu = mcu;
    this.flash = mcu.flash;
    this.path = path;
    this.fd = null;
    this.stats = { erases: 0, programs: 0, bytes_programmed: 0 };
    if (path) {
      this.open(firmwareBytes);
    }
  }

  open(firmwareBytes) {
    const keep = Math.ceil(firmwareBytes / SECTOR) * SECTOR;
    if (existsSync(this.path)) {
      this.fd = openSync(this.path, 'r+');
      const saved = new Uint8Array(FLASH_BYTES - keep);
      const n = readSync(this.fd, saved, 0, saved.length, keep);
      this.flash.set(saved.subarray(0, n), keep);
    } else {
      this.fd = openSync(this.path, 'w+');
      writeSync(this.fd, this.flash, 0, FLASH_BYTES, 0);
    }
  }

  persist(offset, length) {
    if (this.fd !== null) {
      writeSync(this.fd, this.flash, offset, length, offset);
    }
  }

  check(offset, length, what) {
    if (offset < 0 || length < 0 || offset + length > FLASH_BYTES) {
      throw new Error(`${what} outside flash: 0x${offset.toString(16)} + ${length}`);
    }
  }

  erase(offset, length) {
    // The ROM erases whole sectors covering the range.
    const start = Math.floor(offset / SECTOR) * SECTOR;
    const end = Math.ceil((offset + length) / SECTOR) * SECTOR;
    this.check(start, end - start, 'erase');
    this.flash.fill(0xff, start, end);
    this.persist(start, end - start);
    this.stats.erases += (end - start) / SECTOR;
    return ((end - start) / SECTOR) * ERASE_NANOS;
  }

  program(offset, data) {
    this.check(offset, data.length, 'program');
    for (let i = 0; i < data.length; i++) {
      this.flash[offset + i] &= data[i];
    }
    this.persist(offset, data.length);
    this.stats.programs++;
    this.stats.bytes_programmed += data.length;
    return Math.ceil(data.length / PAGE) * PAGE_NANOS;
  }

  /** Redirects the ROM's erase and program routines to this model. */
  hookRom() {
    const { mcu } = this;
    const rom = new DataView(mcu.bootrom.buffer, mcu.bootrom.byteOffset, mcu.bootrom.byteLength);
    const patch = (name, bkpt) => {
      const at = romFunction(mcu.bootrom, name);
      rom.setUint16(at, 0xbe00 | bkpt, true); // bkpt #n
      rom.setUint16(at + 2, 0x4770, true); // bx lr
    };
    patch('RE', BKPT_ERASE); // flash_range_erase(addr, count, block_size, block_cmd)
    patch('RP', BKPT_PROGRAM); // flash_range_program(addr, data, count)
    const previous = mcu.onBreak;
    mcu.onBreak = (code) => {
      const r = mcu.core.registers;
      let nanos;
      if (code === BKPT_ERASE) {
        nanos = this.erase(r[0], r[1]);
      } else if (code === BKPT_PROGRAM) {
        const data = new Uint8Array(r[2]);
        for (let i = 0; i < data.length; i++) {
          data[i] = mcu.readUint8(r[1] + i);
        }
        nanos = this.program(r[0], data);
      } else {
        previous(code);
        return;
      }
      mcu.clock.tick(nanos);
    };
  }

  close() {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

export function attach(board) {
  const flash = new EmulatedFlash(board.mcu, {
    path: process.env.DORA_FLASH_FILE || null,
    firmwareBytes: board.imageBytes,
  });
  flash.hookRom();
  board.flash = flash;
  return flash;
}
