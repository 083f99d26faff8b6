// A register block that only exists in the emulator: reading it returns the
// number of CPU cycles the core has executed so far, so code on the board can
// time a stretch of its own work in cycles.  Cycles spent asleep in WFI are
// not counted; only executed instructions are.
//   +0  low 32 bits     +4  the bits above
//   +8  low 30 bits: a small int in MicroPython, so reading it through
//       machine.mem32 allocates nothing (deltas are taken modulo 2**30).
//
// It sits in an address window the RP2040 leaves unused (0x40068000, between
// VREG_AND_CHIP_RESET and TBMAN); on a real chip a read there faults.

export const CYCLE_COUNTER_BASE = 0x40068000;

export class CycleCounter {
  constructor(mcu) {
    this.mcu = mcu;
  }

  readUint32(offset) {
    const cycles = this.mcu.core.cycles;
    if (offset === 0) {
      return cycles >>> 0; // low 32 bits
    }
    if (offset === 4) {
      return Math.floor(cycles / 2 ** 32) >>> 0; // high bits
    }
    if (offset === 8) {
      return (cycles % 2 ** 30) >>> 0;
    }
    return 0;
  }

  writeUint32() {}

  writeUint32Atomic() {}
}
