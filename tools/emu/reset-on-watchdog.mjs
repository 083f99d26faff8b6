// Peripheral model for board.mjs --attach: the watchdog resets the chip.
//
// machine.reset() on the rp2 port, and a watchdog the firmware stopped
// feeding, both end in the watchdog's reset.  Restarting the emulated chip in
// place would keep rp2040js's peripheral and USB host state from before; so
// the emulator stops instead, with the reason "watchdog-reset", and the
// runner (tools/ethernet_board.py) starts it again on the same flash file:
// RAM is lost and the filesystem kept, as on a real reset.
export function attach(board) {
  const watchdog = board.mcu.peripherals[0x40058];
  watchdog.onWatchdogTrigger = () => {
    board.watchdogTriggers++;
    board.stop('watchdog-reset');
  };
}
