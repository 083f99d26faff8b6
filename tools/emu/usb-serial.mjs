// The board's USB-CDC serial port (MicroPython's REPL) as a TCP socket.
//
// The emulated USB host (rp2040js's USBCDC) enumerates the device and then
// moves bytes both ways.  Bytes from the socket wait here and are handed to
// the host's transmit FIFO at most CHUNK at a time, and only when that FIFO
// has drained: the device takes them as it reads its OUT endpoint, so a fast
// sender cannot overrun the board.  Bytes from the board go to the connected
// client, or wait for one (the boot banner is kept for the first client).
//
// When the device arms its OUT endpoint and no byte is waiting, the host
// here holds the read until one is, as a real host NAKs; rp2040js's helper
// would answer at once with an empty packet, the device would re-arm, and
// the resulting interrupt storm takes about two thirds of the CPU.
import { createServer } from 'node:net';
import { USBCDC } from 'rp2040js';

const CHUNK = 64;
const KEEP_UNREAD = 1 << 20; // board output kept while no client is connected

export class UsbSerialBridge {
  constructor(mcu) {
    this.cdc = new USBCDC(mcu.usbCtrl);
    this.connected = false; // enumerated by the emulated host
    this.client = null;
    this.toBoard = [];
    this.unread = [];
    this.unreadBytes = 0;
    this.cdc.onDeviceConnected = () => {
      this.connected = true;
    };
    this.cdc.onSerialData = (data) => this.fromBoard(Buffer.from(data));
    this.heldRead = null;
    const usb = mcu.usbCtrl;
    const answerRead = usb.onEndpointRead;
    this.answerRead = answerRead;
    usb.onEndpointRead = (endpoint, size) => {
      if (endpoint === this.cdc.outEndpoint && this.cdc.txFIFO.empty) {
        this.heldRead = { endpoint, size };
      } else {
        answerRead(endpoint, size);
      }
    };
  }

  fromBoard(data) {
    if (this.onOutput) {
      this.onOutput(data);
    }
    if (this.client) {
      this.client.write(data);
    } else if (this.unreadBytes + data.length <= KEEP_UNREAD) {
      this.unread.push(data);
      this.unreadBytes += data.length;
    }
  }

  /** Feeds the board's receive side; called by the run loop between batches. */
  pump() {
    const fifo = this.cdc.txFIFO;
    if (!this.connected || !fifo.empty || this.toBoard.length === 0) {
      return;
    }
    let room = CHUNK;
    while (room > 0 && this.toBoard.length > 0) {
      const head = this.toBoard[0];
      const n = Math.min(room, head.length);
      for (let i = 0; i < n; i++) {
        this.cdc.sendSerialByte(head[i]);
      }
      room -= n;
      if (n === head.length) {
        this.toBoard.shift();
      } else {
        this.toBoard[0] = head.subarray(n);
      }
    }
    if (this.heldRead) {
      const { endpoint, size } = this.heldRead;
      this.heldRead = null;
      this.answerRead(endpoint, size);
    }
  }

  get pendingToBoard() {
    return this.toBoard.reduce((sum, b) => sum + b.length, 0);
  }

  send(data) {
    this.toBoard.push(Buffer.from(data));
  }

  /** Listens on 127.0.0.1:port (0 = any free port); resolves to the port. */
  listen(port) {
    const server = createServer((socket) => {
      if (this.client) {
        socket.end('busy: the board serial port has a client already\r\n');
        return;
      }
      this.client = socket;
      socket.setNoDelay(true);
      for (const b of this.unread) {
        socket.write(b);
      }
      this.unread = [];
      this.unreadBytes = 0;
      socket.on('data', (data) => this.send(data));
      socket.on('close', () => {
        this.client = null;
      });
      socket.on('error', () => {});
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server.address().port));
    });
  }

  close() {
    if (this.client) {
      this.client.destroy();
    }
    if (this.server) {
      this.server.close();
    }
  }
}
