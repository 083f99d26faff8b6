#!/usr/bin/env node
// Boots a MicroPython rp2 firmware image in an emulated RP2040 (rp2040js) and
// serves the board's USB-CDC serial port (its REPL) on 127.0.0.1:PORT.
//
//   node tools/emu/board.mjs --image firmware.bin --bootrom rp2040-bootrom.bin
//        [--port 0] [--max-wall 600] [--attach model.mjs ...] [--no-control]
//
// Lines on stdout are JSON events for the driver: {"event":"listening",
// "port":N} once the socket is up, {"event":"stats",...} on the stdin command
// "stats", and {"event":"stopped","reason":...,"cycles":...} at the end.
// The run stops on the stdin command "stop", when stdin closes, on SIGINT or
// SIGTERM, or when --max-wall seconds of real time have passed.  With
// --no-control stdin is not read (for a shell: only signals and the time
// bound stop it).
//
// --attach loads a peripheral model: a module exporting attach(board), called
// before the core starts, which may hook board.mcu.spi[n], GPIO pins, or add
// a register block with board.addPeripheral(base, model), and may put its
// counters in board.modelStats (by name) for the stats events.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { RP2040 } from 'rp2040js';
import { CYCLE_COUNTER_BASE, CycleCounter } from './cycle-counter.mjs';
import { FLASH_BASE, loadImage } from './image.mjs';
import { UsbSerialBridge } from './usb-serial.mjs';

const CPU_HZ = 125e6; // the clock rp2040js charges each executed cycle at
const BATCH = 200000; // instructions between two looks at sockets and timers

export class EmulatedBoard {
  constructor({ image, bootrom }) {
    this.mcu = new RP2040(); // with its own simulated clock
    this.clock = this.mcu.clock;
    // rp2040js reports what it does not model (a read of an unknown
    // register...); stdout carries the JSON events, so those go to stderr.
    this.mcu.logger = {
      debug() {},
      info() {},
      warn() {},
      error(component, message) {
        process.stderr.write(`rp2040js ${component}: ${message}\n`);
      },
    };
    const rom = readFileSync(bootrom);
    this.mcu.loadBootrom(new Uint32Array(rom.buffer, rom.byteOffset, rom.length >> 2));
    this.imageBytes = loadImage(this.mcu.flash, image);
    // rp2040js does not model the flash chip behind the SSI, so the bootrom
    // cannot fetch the second-stage loader through it.  Flash is readable as
    // plain memory instead: start at the image's first byte (boot2), which
    // sets up XIP and jumps to the firmware's vector table.
    this.mcu.core.PC = FLASH_BASE;
    this.serial = new UsbSerialBridge(this.mcu);
    this.addPeripheral(CYCLE_COUNTER_BASE, new CycleCounter(this.mcu));
    // A real chip resets when its watchdog runs out; here it is counted and
    // the watchdog stopped (left running, rp2040js would fire it again on
    // every tick), so a test can tell whether the firmware kept feeding it.
    this.watchdogTriggers = 0;
    // Counters of attached models, by name, in every stats event.
    this.modelStats = {};
    const watchdog = this.mcu.peripherals[0x40058];
    watchdog.onWatchdogTrigger = () => {
      this.watchdogTriggers++;
      watchdog.enable = false;
      watchdog.timer.enable = false;
      watchdog.alarm.enable = false;
    };
    this.running = false;
    this.stopReason = null;
    this.startWall = process.hrtime.bigint();
  }

  /** Maps a register block (readUint32/writeUint32/writeUint32Atomic) at base. */
  addPeripheral(base, model) {
    this.mcu.peripherals[(base >>> 14) << 2] = model;
  }

  stats() {
    const wall = Number(process.hrtime.bigint() - this.startWall) / 1e9;
    const sim = this.clock.nanos / 1e9;
    return {
      cycles: this.mcu.core.cycles,
      sim_seconds: +sim.toFixed(6),
      wall_seconds: +wall.toFixed(3),
      speed: wall > 0 ? +(sim / wall).toFixed(3) : 0,
      watchdog_triggers: this.watchdogTriggers,
      ...this.modelStats,
    };
  }

  /** Runs one batch of instructions, advancing simulated time. */
  step() {
    const { mcu, clock } = this;
    const core = mcu.core;
    const cycleNanos = 1e9 / CPU_HZ;
    for (let i = 0; i < BATCH && this.running; i++) {
      if (core.waiting) {
        // Asleep in WFI/WFE: jump to the next timer event instead of spinning.
        const gap = clock.nanosToNextAlarm;
        clock.tick(gap > 0 ? gap : cycleNanos);
        i += gap / cycleNanos;
      } else {
        const before = core.cycles;
        core.executeInstruction();
        clock.tick((core.cycles - before) * cycleNanos);
      }
    }
  }

  run(maxWallSeconds) {
    this.running = true;
    const deadline = Date.now() + maxWallSeconds * 1000;
    return new Promise((done) => {
      const loop = () => {
        if (!this.running) {
          done(this.stopReason);
          return;
        }
        if (Date.now() > deadline) {
          this.stop('max-wall');
        }
        this.serial.pump();
        this.step();
        setImmediate(loop);
      };
      this.stopped = done;
      setImmediate(loop);
    });
  }

  stop(reason) {
    if (this.running) {
      this.stopReason = reason;
      this.running = false;
    }
  }
}

function parseArgs(argv) {
  const opts = { port: 0, maxWall: 600, attach: [], control: true };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const value = argv[i + 1];
    if (key === '--image') opts.image = value;
    else if (key === '--bootrom') opts.bootrom = value;
    else if (key === '--port') opts.port = Number(value);
    else if (key === '--max-wall') opts.maxWall = Number(value);
    else if (key === '--attach') opts.attach.push(value);
    else if (key === '--no-control') {
      opts.control = false;
      continue; // takes no value
    }
    else throw new Error(`unknown argument ${key}`);
    i++;
  }
  opts.bootrom = opts.bootrom || process.env.RP2040_BOOTROM;
  if (!opts.image || !opts.bootrom) {
    throw new Error('usage: board.mjs --image FIRMWARE --bootrom BOOTROM [--port N] [--max-wall S] [--attach MODEL.mjs] [--no-control]');
  }
  return opts;
}

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  const board = new EmulatedBoard(opts);
  for (const model of opts.attach) {
    const mod = await import(pathToFileURL(resolve(model)).href);
    await mod.attach(board);
  }
  const port = await board.serial.listen(opts.port);
  emit({ event: 'listening', port, image_bytes: board.imageBytes });
  const stopOn = (reason) => () => board.stop(reason);
  process.on('SIGINT', stopOn('sigint'));
  process.on('SIGTERM', stopOn('sigterm'));
  if (opts.control) {
    const control = createInterface({ input: process.stdin });
    control.on('line', (line) => {
      const command = line.trim();
      if (command === 'stop') board.stop('stop');
      else if (command === 'stats') emit({ event: 'stats', ...board.stats() });
    });
    control.on('close', stopOn('stdin-closed'));
  }
  const reason = await board.run(opts.maxWall);
  board.serial.close();
  emit({ event: 'stopped', reason, ...board.stats() });
  process.exit(0);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
