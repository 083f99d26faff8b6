// Puts a firmware image into the emulated RP2040's flash, which the chip
// maps at 0x10000000.  Accepts the three files an rp2 build leaves behind:
// firmware.bin (a flat copy of flash from its first byte), firmware.uf2
// (512-byte blocks, each naming its target address) and firmware.elf (the
// loadable segments whose physical address falls in flash).
import { readFileSync } from 'node:fs';

export const FLASH_BASE = 0x10000000;

const UF2_MAGIC_START0 = 0x0a324655;
const UF2_MAGIC_START1 = 0x9e5d5157;
const UF2_MAGIC_END = 0x0ab16f30;

function putAt(flash, address, bytes, what) {
  const offset = address - FLASH_BASE;
  if (offset < 0 || offset + bytes.length > flash.length) {
    throw new Error(`${what}: ${bytes.length} bytes at 0x${address.toString(16)} fall outside flash`);
  }
  flash.set(bytes, offset);
  return offset + bytes.length;
}

function loadUf2(flash, data, path) {
  let end = 0;
  for (let at = 0; at + 512 <= data.length; at += 512) {
    const view = new DataView(data.buffer, data.byteOffset + at, 512);
    if (
      view.getUint32(0, true) !== UF2_MAGIC_START0 ||
      view.getUint32(4, true) !== UF2_MAGIC_START1 ||
      view.getUint32(508, true) !== UF2_MAGIC_END
    ) {
      throw new Error(`${path}: block ${at / 512} is not a UF2 block`);
    }
    const target = view.getUint32(12, true);
    const size = view.getUint32(16, true);
    const payload = data.subarray(at + 32, at + 32 + size);
    end = Math.max(end, putAt(flash, target, payload, path));
  }
  return end;
}

function loadElf(flash, data, path) {
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  if (view.getUint32(0, false) !== 0x7f454c46 || data[4] !== 1 || data[5] !== 1) {
    throw new Error(`${path}: not a 32-bit little-endian ELF file`);
  }
  const phoff = view.getUint32(28, true);
  const phentsize = view.getUint16(42, true);
  const phnum = view.getUint16(44, true);
  let end = 0;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = view.getUint32(ph, true);
    const offset = view.getUint32(ph + 4, true);
    const paddr = view.getUint32(ph + 12, true);
    const filesz = view.getUint32(ph + 16, true);
    // PT_LOAD segments stored in flash; RAM-only segments (.bss) have no bytes.
    if (type !== 1 || filesz === 0 || paddr < FLASH_BASE || paddr >= FLASH_BASE + flash.length) {
      continue;
    }
    end = Math.max(end, putAt(flash, paddr, data.subarray(offset, offset + filesz), path));
  }
  if (end === 0) {
    throw new Error(`${path}: no loadable segment in flash`);
  }
  return end;
}

/** Loads `path` into `flash` (the RP2040's flash array); returns the bytes used. */
export function loadImage(flash, path) {
  const data = new Uint8Array(readFileSync(path));
  if (path.endsWith('.uf2')) {
    return loadUf2(flash, data, path);
  }
  if (path.endsWith('.elf')) {
    return loadElf(flash, data, path);
  }
  return putAt(flash, FLASH_BASE, data, path);
}
