// A WIZnet W5500 Ethernet controller on the emulated RP2040's SPI bus, as
// the W5500-EVB-Pico wires it (SPI0, chip select GPIO17, reset GPIO20,
// interrupt GPIO21).  It models what MicroPython's WIZNET5K driver uses when
// lwIP runs on the RP2040 and the chip only moves raw Ethernet frames:
//
//   - the SPI frame: two address bytes, a control byte (block select in bits
//     7..3, write flag in bit 2, operation mode in bits 1..0), then data bytes
//     at consecutive addresses, for as long as chip select stays low;
//   - the common registers: mode (with its self-clearing soft reset), MAC
//     address, interrupt and mask registers, the PHY configuration (link up,
//     100 Mbit/s full duplex) and the version register (0x04);
//   - the socket registers, socket 0 in MACRAW mode: the OPEN, CLOSE, SEND and
//     RECV commands, status, interrupt flags (write 1 to clear), and the
//     TX/RX buffer pointers with the free and received sizes derived from them;
//   - the socket buffers: each pointer is 16 bits and the chip wraps it into
//     the socket's buffer (1, 2, 4, 8 or 16 KB), so a frame may straddle the
//     end of the buffer; every received frame is stored behind a 2-byte
//     big-endian length that counts the length bytes themselves.
//
// Frames the board sends go to onFrame(bytes); receive(bytes) hands the chip
// a frame from the wire.  Nothing here knows about rp2040js except attach().

const COMMON_BLOCK = 0;
const SOCKETS = 8;

// Common register offsets.
const MR = 0x00;
const SHAR = 0x09;
const IR = 0x15;
const IMR = 0x16;
const SIR = 0x17;
const SIMR = 0x18;
const PHYCFGR = 0x2e;
const VERSIONR = 0x39;
const MR_RST = 0x80;

// Socket register offsets.
const Sn_MR = 0x00;
const Sn_CR = 0x01;
const Sn_IR = 0x02;
const Sn_SR = 0x03;
const Sn_RXBUF_SIZE = 0x1e;
const Sn_TXBUF_SIZE = 0x1f;
const Sn_TX_FSR = 0x20;
const Sn_TX_RD = 0x22;
const Sn_TX_WR = 0x24;
const Sn_RX_RSR = 0x26;
const Sn_RX_RD = 0x28;
const Sn_RX_WR = 0x2a;
const Sn_IMR = 0x2c;

export const PROTO_MACRAW = 0x04;
const MR_MFEN = 0x80; // MACRAW: accept only frames to our MAC, broadcast, multicast
const MR_MMB = 0x20; // MACRAW: block multicast
const MR_MIP6B = 0x10; // MACRAW: block IPv6

export const CMD_OPEN = 0x01;
export const CMD_CLOSE = 0x10;
export const CMD_SEND = 0x20;
export const CMD_RECV = 0x40;

export const IR_RECV = 0x04;
export const IR_SENDOK = 0x10;

export const SOCK_CLOSED = 0x00;
export const SOCK_UDP = 0x22;
export const SOCK_MACRAW = 0x42;

const MIN_FRAME = 60; // without the FCS, which the chip adds and strips
const MAX_FRAME = 1514;

// Counters of DHCP requests to a server (UDP port 67) by message type
// (option 53; index 0: no or unknown type), so a run can tell where its
// datagrams went: received from the wire, lost to a full buffer, read out
// by the driver.
const DHCP_TYPES = 9;

/** The DHCP message type of a frame to UDP port 67 (0: none), or -1. */
export function dhcpServerType(frame) {
  if (frame.length < 42 || frame[12] !== 0x08 || frame[13] !== 0x00 || frame[23] !== 17) {
    return -1;
  }
  const udp = 14 + (frame[14] & 0x0f) * 4;
  if (udp + 8 > frame.length || ((frame[udp + 2] << 8) | frame[udp + 3]) !== 67) {
    return -1;
  }
  let at = udp + 8 + 240; // the options, after the fixed part and the cookie
  while (at + 1 < frame.length && frame[at] !== 255) {
    if (frame[at] === 0) {
      at++;
      continue;
    }
    if (frame[at] === 53 && at + 2 < frame.length) {
      return frame[at + 2] < DHCP_TYPES ? frame[at + 2] : 0;
    }
    at += 2 + frame[at + 1];
  }
  return 0;
}

function commonDefaults() {
  const r = new Uint8Array(0x40);
  r[0x19] = 0x07; // RTR = 2000 (200 ms)
  r[0x1a] = 0xd0;
  r[0x1b] = 0x08; // RCR
  r[0x1c] = 0x28; // PTIMER
  r[0x26] = 0xff; // PMRU
  r[0x27] = 0xff;
  r[VERSIONR] = 0x04;
  return r;
}

function socketDefaults() {
  const r = new Uint8Array(0x30);
  r.fill(0xff, 0x06, 0x0c); // DHAR
  r[0x16] = 0x80; // TTL
  r[Sn_RXBUF_SIZE] = 2;
  r[Sn_TXBUF_SIZE] = 2;
  r[Sn_IMR] = 0xff;
  r[0x2d] = 0x40; // FRAG
  return r;
}

export class W5500 {
  constructor({ link = true } = {}) {
    this.link = link;
    this.onFrame = () => {};
    this.onInterruptChange = () => {};
    this.stats = {
      sent: 0,
      received: 0,
      filtered: 0,
      overflowed: 0,
      readOut: 0, // frames the driver has taken out of socket 0's buffer
      dhcpReceived: new Array(DHCP_TYPES).fill(0),
      dhcpOverflowed: new Array(DHCP_TYPES).fill(0),
      dhcpReadOut: new Array(DHCP_TYPES).fill(0),
    };
    this.txMem = Array.from({ length: SOCKETS }, () => new Uint8Array(16384));
    this.rxMem = Array.from({ length: SOCKETS }, () => new Uint8Array(16384));
    this.inReset = false;
    this.selected = false;
    this.reset();
  }

  /** Power-on / hardware reset state. */
  reset() {
    this.common = commonDefaults();
    this.socket = Array.from({ length: SOCKETS }, () => socketDefaults());
    // RX_RD as of the last RECV command: what the received size counts from.
    this.rxCommitted = new Uint16Array(SOCKETS);
    // Socket 0's stored frames not yet read out: [bytes, DHCP type or -1],
    // and the bytes read out of the oldest one so far.
    this.rxFrames = [];
    this.rxFreed = 0;
    for (const m of this.txMem) m.fill(0);
    for (const m of this.rxMem) m.fill(0);
    this.phase = 0;
    this.updateInterrupt();
  }

  // -- pins -------------------------------------------------------------------

  setReset(asserted) {
    this.inReset = asserted;
    if (asserted) {
      this.reset();
    }
  }

  select() {
    this.selected = true;
    this.phase = 0;
  }

  deselect() {
    this.selected = false;
    this.phase = 0;
  }

  /** One byte each way on SPI while selected; returns the byte the chip drives. */
  transfer(byte) {
    if (!this.selected || this.inReset) {
      return 0;
    }
    if (this.phase === 0) {
      this.address = byte << 8;
      this.phase = 1;
      return 0x01;
    }
    if (this.phase === 1) {
      this.address |= byte;
      this.phase = 2;
      return 0x02;
    }
    if (this.phase === 2) {
      this.block = byte >> 3;
      this.writing = (byte & 0x04) !== 0;
      this.phase = 3;
      return 0x03;
    }
    // Data phase: the address moves on after every byte.  (The fixed-length
    // modes only bound the frame; the driver uses the variable-length one.)
    const address = this.address;
    this.address = (address + 1) & 0xffff;
    if (this.writing) {
      this.write(this.block, address, byte);
      return 0;
    }
    return this.read(this.block, address);
  }

  // -- register and buffer access ----------------------------------------------

  bufferMask(n, sizeReg) {
    const kb = this.socket[n][sizeReg];
    return kb > 0 && kb <= 16 ? kb * 1024 - 1 : -1;
  }

  read(block, address) {
    if (block === COMMON_BLOCK) {
      return this.readCommon(address);
    }
    const n = (block - 1) >> 2;
    const kind = (block - 1) & 3;
    if (n >= SOCKETS || kind === 3) {
      // Block numbers 4, 8, ... are reserved.
      return 0;
    }
    if (kind === 0) {
      return this.readSocket(n, address);
    }
    const mask = this.bufferMask(n, kind === 1 ? Sn_TXBUF_SIZE : Sn_RXBUF_SIZE);
    if (mask < 0) {
      return 0;
    }
    return (kind === 1 ? this.txMem[n] : this.rxMem[n])[address & mask];
  }

  write(block, address, value) {
    if (block === COMMON_BLOCK) {
      this.writeCommon(address, value);
      return;
    }
    const n = (block - 1) >> 2;
    const kind = (block - 1) & 3;
    if (n >= SOCKETS || kind === 3) {
      return;
    }
    if (kind === 0) {
      this.writeSocket(n, address, value);
      return;
    }
    const mask = this.bufferMask(n, kind === 1 ? Sn_TXBUF_SIZE : Sn_RXBUF_SIZE);
    if (mask >= 0) {
      (kind === 1 ? this.txMem[n] : this.rxMem[n])[address & mask] = value;
    }
  }

  readCommon(address) {
    if (address >= this.common.length) {
      return 0;
    }
    if (address === SIR) {
      let sir = 0;
      for (let n = 0; n < SOCKETS; n++) {
        if (this.socket[n][Sn_IR] & this.socket[n][Sn_IMR]) sir |= 1 << n;
      }
      return sir;
    }
    if (address === PHYCFGR) {
      // Reset bit high (not resetting), all capabilities by auto-negotiation,
      // full duplex, 100 Mbit/s, link as configured.
      return 0xbe | (this.link ? 1 : 0);
    }
    return this.common[address];
  }

  writeCommon(address, value) {
    if (address >= this.common.length) {
      return;
    }
    if (address === MR) {
      if (value & MR_RST) {
        this.reset();
        return;
      }
      this.common[MR] = value;
      return;
    }
    if (address === IR) {
      this.common[IR] &= ~value;
      this.updateInterrupt();
      return;
    }
    if (address === SIR || address === VERSIONR || address === PHYCFGR) {
      return; // read-only here (a PHY reset or mode change keeps the link)
    }
    this.common[address] = value;
    if (address === IMR || address === SIMR) {
      this.updateInterrupt();
    }
  }

  txMax(n) {
    return this.bufferMask(n, Sn_TXBUF_SIZE) + 1;
  }

  rxMax(n) {
    return this.bufferMask(n, Sn_RXBUF_SIZE) + 1;
  }

  reg16(n, offset) {
    const r = this.socket[n];
    return (r[offset] << 8) | r[offset + 1];
  }

  setReg16(n, offset, value) {
    const r = this.socket[n];
    r[offset] = (value >> 8) & 0xff;
    r[offset + 1] = value & 0xff;
  }

  txFree(n) {
    const used = (this.reg16(n, Sn_TX_WR) - this.reg16(n, Sn_TX_RD)) & 0xffff;
    return Math.max(0, this.txMax(n) - used);
  }

  rxReceived(n) {
    return (this.reg16(n, Sn_RX_WR) - this.rxCommitted[n]) & 0xffff;
  }

  readSocket(n, address) {
    if (address >= 0x30) {
      return 0;
    }
    if (address === Sn_TX_FSR || address === Sn_TX_FSR + 1) {
      const v = this.txFree(n);
      return address === Sn_TX_FSR ? v >> 8 : v & 0xff;
    }
    if (address === Sn_RX_RSR || address === Sn_RX_RSR + 1) {
      const v = this.rxReceived(n);
      return address === Sn_RX_RSR ? v >> 8 : v & 0xff;
    }
    return this.socket[n][address];
  }

  writeSocket(n, address, value) {
    if (address >= 0x30) {
      return;
    }
    const r = this.socket[n];
    switch (address) {
      case Sn_CR:
        this.command(n, value);
        return;
      case Sn_IR:
        r[Sn_IR] &= ~value;
        this.updateInterrupt();
        return;
      case Sn_SR:
      case Sn_TX_FSR:
      case Sn_TX_FSR + 1:
      case Sn_TX_RD:
      case Sn_TX_RD + 1:
      case Sn_RX_RSR:
      case Sn_RX_RSR + 1:
      case Sn_RX_WR:
      case Sn_RX_WR + 1:
        return; // read-only
      case Sn_RXBUF_SIZE:
      case Sn_TXBUF_SIZE:
        r[address] = [0, 1, 2, 4, 8, 16].includes(value) ? value : r[address];
        return;
      default:
        r[address] = value;
        if (address === Sn_IMR) {
          this.updateInterrupt();
        }
    }
  }

  // -- socket commands ---------------------------------------------------------

  command(n, cmd) {
    const r = this.socket[n];
    switch (cmd) {
      case CMD_OPEN: {
        const proto = r[Sn_MR] & 0x0f;
        this.setReg16(n, Sn_TX_RD, 0);
        this.setReg16(n, Sn_TX_WR, 0);
        this.setReg16(n, Sn_RX_RD, 0);
        this.setReg16(n, Sn_RX_WR, 0);
        this.rxCommitted[n] = 0;
        if (n === 0) {
          this.rxFrames = [];
          this.rxFreed = 0;
        }
        if (proto === PROTO_MACRAW && n === 0) {
          r[Sn_SR] = SOCK_MACRAW;
        } else if (proto === 0x02) {
          r[Sn_SR] = SOCK_UDP; // opened, but this model carries no UDP traffic
        } else {
          r[Sn_SR] = SOCK_CLOSED;
        }
        break;
      }
      case CMD_CLOSE:
        r[Sn_SR] = SOCK_CLOSED;
        break;
      case CMD_SEND:
        if (r[Sn_SR] === SOCK_MACRAW) {
          this.transmit(n);
        }
        break;
      case CMD_RECV: {
        const rd = this.reg16(n, Sn_RX_RD);
        if (n === 0) {
          this.countReadOut((rd - this.rxCommitted[0]) & 0xffff);
        }
        this.rxCommitted[n] = rd;
        break;
      }
      default:
        break; // TCP/UDP commands: not used by the MACRAW driver
    }
    r[Sn_CR] = 0; // commands complete at once here
  }

  /** The driver freed `bytes` more of socket 0's buffer (a RECV command):
   * count the frames wholly read out by now. */
  countReadOut(bytes) {
    this.rxFreed += bytes;
    while (this.rxFrames.length && this.rxFreed >= this.rxFrames[0][0]) {
      const [size, type] = this.rxFrames.shift();
      this.rxFreed -= size;
      this.stats.readOut++;
      if (type >= 0) this.stats.dhcpReadOut[type]++;
    }
  }

  transmit(n) {
    const mask = this.txMax(n) - 1;
    const start = this.reg16(n, Sn_TX_RD);
    const end = this.reg16(n, Sn_TX_WR);
    const len = (end - start) & 0xffff;
    const mem = this.txMem[n];
    const frame = new Uint8Array(Math.max(len, MIN_FRAME));
    for (let i = 0; i < len; i++) {
      frame[i] = mem[(start + i) & mask];
    }
    this.setReg16(n, Sn_TX_RD, end);
    this.socket[n][Sn_IR] |= IR_SENDOK;
    this.updateInterrupt();
    if (len > 0 && len <= MAX_FRAME) {
      this.stats.sent++;
      this.onFrame(frame);
    }
  }

  /** A frame from the wire.  Returns true when socket 0 stored it. */
  receive(frame) {
    const r = this.socket[0];
    if (this.inReset || !this.link || r[Sn_SR] !== SOCK_MACRAW || frame.length < 14 || frame.length > MAX_FRAME) {
      this.stats.filtered++;
      return false;
    }
    if (!this.accepts(r[Sn_MR], frame)) {
      this.stats.filtered++;
      return false;
    }
    const need = frame.length + 2;
    const type = dhcpServerType(frame);
    if (this.rxMax(0) - this.rxReceived(0) < need) {
      this.stats.overflowed++;
      if (type >= 0) this.stats.dhcpOverflowed[type]++;
      return false;
    }
    const mask = this.rxMax(0) - 1;
    const mem = this.rxMem[0];
    let at = this.reg16(0, Sn_RX_WR);
    mem[at & mask] = need >> 8;
    mem[(at + 1) & mask] = need & 0xff;
    at += 2;
    for (let i = 0; i < frame.length; i++) {
      mem[(at + i) & mask] = frame[i];
    }
    this.setReg16(0, Sn_RX_WR, (at + frame.length) & 0xffff);
    r[Sn_IR] |= IR_RECV;
    this.stats.received++;
    this.rxFrames.push([need, type]);
    if (type >= 0) this.stats.dhcpReceived[type]++;
    this.updateInterrupt();
    return true;
  }

  accepts(mode, frame) {
    const multicast = (frame[0] & 1) === 1;
    const broadcast = frame.subarray(0, 6).every((b) => b === 0xff);
    if (mode & MR_MFEN) {
      const mine = this.common.subarray(SHAR, SHAR + 6).every((b, i) => b === frame[i]);
      if (!mine && !multicast) {
        return false;
      }
      if (multicast && !broadcast && mode & MR_MMB) {
        return false;
      }
    }
    if (mode & MR_MIP6B && frame[12] === 0x86 && frame[13] === 0xdd) {
      return false;
    }
    return true;
  }

  // -- interrupt line ----------------------------------------------------------

  /** True while the (active-low) INTn line is pulled down. */
  get interruptAsserted() {
    if (this.common[IR] & this.common[IMR]) {
      return true;
    }
    for (let n = 0; n < SOCKETS; n++) {
      if (this.common[SIMR] & (1 << n) && this.socket[n][Sn_IR] & this.socket[n][Sn_IMR]) {
        return true;
      }
    }
    return false;
  }

  updateInterrupt() {
    const now = this.interruptAsserted;
    if (now !== this.lastInterrupt) {
      this.lastInterrupt = now;
      this.onInterruptChange(now);
    }
  }
}

// The W5500-EVB-Pico's wiring (MicroPython's W5500_EVB_PICO board definition).
export const EVB_PICO = { spi: 0, cs: 17, reset: 20, interrupt: 21 };

/**
 * Puts a W5500 on board.mcu's SPI bus and GPIO pins; returns the chip.
 * Pin levels: rp2040js reports an output pin as GPIOPinState.Low (0) or High (1).
 */
export function wire(mcu, chip, pins = EVB_PICO) {
  const spi = mcu.spi[pins.spi];
  // A byte takes its 8 SPI clock periods of simulated time.  Answering at
  // once would let the transmit DMA channel run ahead of the receive one and
  // overflow the 8-entry receive FIFO, which real hardware never does.
  let answer = 0;
  const done = mcu.clock.createAlarm(() => spi.completeTransmit(answer));
  spi.onTransmit = (value) => {
    answer = chip.transfer(value);
    const hz = spi.clockFrequency || 1e6;
    done.schedule(Math.max(1, Math.round(8e9 / hz)));
  };
  mcu.gpio[pins.cs].addListener((state) => {
    if (state === 0) chip.select();
    else chip.deselect();
  });
  mcu.gpio[pins.reset].addListener((state) => chip.setReset(state === 0));
  const intn = mcu.gpio[pins.interrupt];
  intn.setInputValue(true);
  chip.onInterruptChange = (asserted) => intn.setInputValue(!asserted);
  return chip;
}
