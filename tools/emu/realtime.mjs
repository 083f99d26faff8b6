// Peripheral model for board.mjs --attach: the simulated clock never runs
// ahead of the wall clock.
//
// board.mjs lets an idle core (asleep in WFI) jump straight to its next timer
// event, so an idle board lives many times faster than real time.  That is
// right for a board alone, wrong for one on a real network: its DHCP leases
// would expire before real clients renew them, its ARP and lwIP timers would
// fire early.  Here the step keeps the simulated time at most the wall time
// since start: an idle core sleeps until the wall clock catches up (and
// wakes at once when a frame or a USB byte raises an interrupt), a busy core
// runs as fast as the emulator can (which is slower than real time).
// Cycle counts are unchanged, so CPU figures still come from cycles.
const CPU_HZ = 125e6;
const CYCLE_NANOS = 1e9 / CPU_HZ;
const BATCH = 200000;
const NAP = new Int32Array(new SharedArrayBuffer(4));
const NAP_MS = 1; // an idle, caught-up board gives the host this much per turn

export function attach(board) {
  const start = process.hrtime.bigint();
  const origin = board.clock.nanos;
  board.realtime = { naps: 0 };
  board.step = function step() {
    const { mcu, clock } = this;
    const core = mcu.core;
    const wall = Number(process.hrtime.bigint() - start) + origin;
    for (let i = 0; i < BATCH && this.running; i++) {
      if (core.waiting) {
        const room = wall - clock.nanos;
        if (room <= 0) {
          // Caught up: let the event loop deliver frames and bytes.
          Atomics.wait(NAP, 0, 0, NAP_MS);
          this.realtime.naps++;
          return;
        }
        const gap = clock.nanosToNextAlarm;
        const jump = Math.min(gap > 0 ? gap : CYCLE_NANOS, room);
        clock.tick(jump);
        i += jump / CYCLE_NANOS;
      } else {
        const before = core.cycles;
        core.executeInstruction();
        clock.tick((core.cycles - before) * CYCLE_NANOS);
      }
    }
  };
}
