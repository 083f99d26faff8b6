// Peripheral model for board.mjs --attach: a W5500 on the board's SPI bus,
// its Ethernet port carried over a Unix stream socket to tools/ethbridge.py,
// which puts the frames on a real interface (a veth in a network namespace).
//
// Environment:
//   DORA_ETH_SOCKET  path of the bridge's socket; without it the chip has a
//                    link but no wire (frames sent are counted and dropped).
//
// On the socket every frame is a 2-byte big-endian length and the frame's
// bytes.  The bridge may start after the emulator (or restart): the model
// keeps trying to connect, and drops frames it cannot deliver.
import { connect } from 'node:net';
import { W5500, wire } from './w5500.mjs';

const RETRY_MS = 200;

export class FrameLink {
  constructor(path, onFrame) {
    this.path = path;
    this.onFrame = onFrame;
    this.sock = null;
    this.pending = Buffer.alloc(0);
    this.closed = false;
    this.dropped = 0;
    this.open();
  }

  open() {
    if (this.closed) {
      return;
    }
    const sock = connect(this.path);
    sock.on('connect', () => {
      this.sock = sock;
    });
    sock.on('data', (data) => this.fromWire(data));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.sock = null;
      this.pending = Buffer.alloc(0);
      if (!this.closed) {
        setTimeout(() => this.open(), RETRY_MS).unref();
      }
    });
  }

  fromWire(data) {
    this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    while (this.pending.length >= 2) {
      const len = this.pending.readUInt16BE(0);
      if (this.pending.length < 2 + len) {
        break;
      }
      this.onFrame(new Uint8Array(this.pending.subarray(2, 2 + len)));
      this.pending = this.pending.subarray(2 + len);
    }
  }

  send(frame) {
    if (!this.sock) {
      this.dropped++;
      return;
    }
    const head = Buffer.alloc(2);
    head.writeUInt16BE(frame.length);
    this.sock.write(Buffer.concat([head, Buffer.from(frame)]));
  }

  close() {
    this.closed = true;
    if (this.sock) {
      this.sock.destroy();
    }
  }
}

export function attach(board) {
  const chip = wire(board.mcu, new W5500());
  const path = process.env.DORA_ETH_SOCKET;
  if (path) {
    const link = new FrameLink(path, (frame) => chip.receive(frame));
    chip.onFrame = (frame) => link.send(frame);
  }
  board.w5500 = chip;
  board.modelStats.w5500 = chip.stats;
  return chip;
}
