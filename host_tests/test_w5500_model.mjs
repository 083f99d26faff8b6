// Unit tests of the W5500 model (tools/emu/w5500.mjs), driven over SPI the
// way MicroPython's WIZNET5K driver (lib/wiznet5k, MACRAW socket 0) drives
// the chip: variable-length SPI frames, 16-bit buffer pointers that the chip
// wraps into the socket's buffer, a 2-byte length in front of every received
// frame that counts itself, SEND/RECV commands that move the pointers.
//   node --test host_tests/test_w5500_model.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CMD_OPEN, CMD_RECV, CMD_SEND, IR_RECV, IR_SENDOK, SOCK_MACRAW, W5500, dhcpServerType } from '../tools/emu/w5500.mjs';

const COMMON = 0;
const S0_REG = 1;
const S0_TX = 2;
const S0_RX = 3;
const MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

// -- a driver, as lib/wiznet5k/Ethernet/W5500/w5500.c talks to the chip --------

function frameIo(chip, block, address, write, data) {
  chip.select();
  chip.transfer(address >> 8);
  chip.transfer(address & 0xff);
  chip.transfer((block << 3) | (write ? 0x04 : 0));
  const out = data.map((b) => chip.transfer(b));
  chip.deselect();
  return out;
}

const write = (chip, block, address, bytes) => frameIo(chip, block, address, true, bytes);
const read = (chip, block, address, n) => frameIo(chip, block, address, false, new Array(n).fill(0));
const read16 = (chip, block, address) => {
  const [h, l] = read(chip, block, address, 2);
  return (h << 8) | l;
};
const write16 = (chip, block, address, v) => write(chip, block, address, [(v >> 8) & 0xff, v & 0xff]);

const FSR = 0x20;
const TX_WR = 0x24;
const RSR = 0x26;
const RX_RD = 0x28;

function command(chip, cmd) {
  write(chip, S0_REG, 0x01, [cmd]);
  assert.equal(read(chip, S0_REG, 0x01, 1)[0], 0, 'the command register clears when done');
}

/** wizchip_init with the lwIP sizes (16 KB to socket 0), MAC, MACRAW open. */
function bringUp(chip, { filter = true } = {}) {
  write(chip, COMMON, 0x00, [0x80]); // soft reset
  for (let n = 0; n < 8; n++) {
    write(chip, 1 + 4 * n, 0x1f, [n === 0 ? 16 : 0]);
    write(chip, 1 + 4 * n, 0x1e, [n === 0 ? 16 : 0]);
  }
  write(chip, COMMON, 0x09, MAC);
  write(chip, S0_REG, 0x00, [0x04 | (filter ? 0x80 : 0)]); // MACRAW (+ MAC filter)
  command(chip, 0x01);
  assert.equal(read(chip, S0_REG, 0x03, 1)[0], SOCK_MACRAW);
}

/** wiz_send_data + SEND, as sendto() does in MACRAW mode. */
function send(chip, bytes) {
  const ptr = read16(chip, S0_REG, TX_WR);
  write(chip, S0_TX, ptr, bytes);
  write16(chip, S0_REG, TX_WR, (ptr + bytes.length) & 0xffff);
  command(chip, CMD_SEND);
  const ir = read(chip, S0_REG, 0x02, 1)[0];
  assert.ok(ir & IR_SENDOK);
  write(chip, S0_REG, 0x02, [IR_SENDOK]);
}

/** recvfrom() in MACRAW mode: the length header, RECV, the frame, RECV. */
function recv(chip) {
  if (read16(chip, S0_REG, RSR) === 0) {
    return null;
  }
  let ptr = read16(chip, S0_REG, RX_RD);
  const [h, l] = read(chip, S0_RX, ptr, 2);
  ptr = (ptr + 2) & 0xffff;
  write16(chip, S0_REG, RX_RD, ptr);
  command(chip, CMD_RECV);
  const len = ((h << 8) | l) - 2;
  const frame = read(chip, S0_RX, ptr, len);
  write16(chip, S0_REG, RX_RD, (ptr + len) & 0xffff);
  command(chip, CMD_RECV);
  return frame;
}

function ethFrame(len, seed, dst = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set([0x02, 0x11, 0x22, 0x33, 0x44, seed & 0xff], 6);
  f[12] = 0x08;
  f[13] = 0x00;
  for (let i = 14; i < len; i++) f[i] = (i * 7 + seed) & 0xff;
  return f;
}

// -- tests ------------------------------------------------------------------------

test('identity and link: VERSIONR 0x04, PHYCFGR link up, MAC round trip', () => {
  const chip = new W5500();
  assert.equal(read(chip, COMMON, 0x39, 1)[0], 0x04);
  assert.equal(read(chip, COMMON, 0x2e, 1)[0] & 0x01, 1);
  write(chip, COMMON, 0x09, MAC);
  assert.deepEqual(read(chip, COMMON, 0x09, 6), MAC);
  const down = new W5500({ link: false });
  assert.equal(read(down, COMMON, 0x2e, 1)[0] & 0x01, 0);
});

test('soft reset clears the MAC and closes sockets; MR reads back 0', () => {
  const chip = new W5500();
  bringUp(chip);
  write(chip, COMMON, 0x00, [0x80]);
  assert.equal(read(chip, COMMON, 0x00, 1)[0], 0);
  assert.deepEqual(read(chip, COMMON, 0x09, 6), [0, 0, 0, 0, 0, 0]);
  assert.equal(read(chip, S0_REG, 0x03, 1)[0], 0);
  assert.equal(read(chip, S0_REG, 0x1e, 1)[0], 2, 'buffer sizes back to 2 KB');
});

test('open MACRAW: free size is the whole 16 KB TX buffer, nothing received', () => {
  const chip = new W5500();
  bringUp(chip);
  assert.equal(read16(chip, S0_REG, FSR), 16384);
  assert.equal(read16(chip, S0_REG, RSR), 0);
});

test('frame out: the bytes between TX_RD and TX_WR leave, padded to 60', () => {
  const chip = new W5500();
  bringUp(chip);
  const sent = [];
  chip.onFrame = (f) => sent.push(Array.from(f));
  const arp = ethFrame(42, 1);
  send(chip, Array.from(arp));
  assert.equal(sent.length, 1);
  assert.equal(sent[0].length, 60);
  assert.deepEqual(sent[0].slice(0, 42), Array.from(arp));
  assert.deepEqual(sent[0].slice(42), new Array(18).fill(0));
  assert.equal(read16(chip, S0_REG, FSR), 16384, 'SEND frees the buffer');
  assert.equal(read16(chip, S0_REG, 0x22), 42, 'TX_RD caught up with TX_WR');
});

test('frame in: 2-byte length counting itself, RSR, RECV interrupt on INTn', () => {
  const chip = new W5500();
  bringUp(chip);
  const lines = [];
  chip.onInterruptChange = (low) => lines.push(low);
  // wiznet5k_init with an interrupt pin: socket 0 unmasked, RECV only.
  write(chip, COMMON, 0x18, [0x01]);
  write(chip, S0_REG, 0x2c, [IR_RECV]);
  const f = ethFrame(342, 2);
  assert.ok(chip.receive(f));
  assert.equal(read16(chip, S0_REG, RSR), 344);
  assert.equal(read(chip, S0_RX, 0, 2).join(), [1, 88].join(), '344 = 0x0158');
  assert.equal(read(chip, S0_REG, 0x02, 1)[0] & IR_RECV, IR_RECV);
  assert.equal(read(chip, COMMON, 0x17, 1)[0], 1, 'SIR names socket 0');
  assert.deepEqual(lines, [true]);
  assert.deepEqual(recv(chip), Array.from(f));
  assert.equal(read16(chip, S0_REG, RSR), 0);
  write(chip, S0_REG, 0x02, [0xff]); // wizchip_clrinterrupt(IK_SOCK_0)
  assert.deepEqual(lines, [true, false]);
});

test('RSR counts from RX_RD as of the last RECV command, not the live register', () => {
  const chip = new W5500();
  bringUp(chip);
  chip.receive(ethFrame(100, 3));
  write16(chip, S0_REG, RX_RD, 2);
  assert.equal(read16(chip, S0_REG, RSR), 102, 'no RECV yet');
  command(chip, CMD_RECV);
  assert.equal(read16(chip, S0_REG, RSR), 100);
});

test('RX wrap-around: frames straddle the end of the 16 KB buffer and the 16-bit pointer', () => {
  const chip = new W5500();
  bringUp(chip);
  // 70,000 bytes through the buffer: the pointers pass 16384 four times and
  // 65536 once; each frame is read back exactly.
  let total = 0;
  let straddled = 0;
  for (let i = 0; total < 70000; i++) {
    const len = 60 + ((i * 379) % 1455);
    const f = ethFrame(len, i);
    const at = read16(chip, S0_REG, 0x2a);
    if ((at & 16383) + len + 2 > 16384) straddled++;
    assert.ok(chip.receive(f), `frame ${i} stored`);
    assert.deepEqual(recv(chip), Array.from(f), `frame ${i} read back`);
    total += len + 2;
  }
  assert.ok(straddled >= 4, `${straddled} frames crossed the buffer end`);
  assert.ok(total > 65536);
  assert.equal(read16(chip, S0_REG, RX_RD), total & 0xffff, 'the 16-bit pointer wrapped');
});

test('TX wrap-around: frames written across the end of the buffer leave intact', () => {
  const chip = new W5500();
  bringUp(chip);
  const sent = [];
  chip.onFrame = (f) => sent.push(Array.from(f));
  const frames = [];
  for (let i = 0, total = 0; total < 70000; i++) {
    const f = Array.from(ethFrame(60 + ((i * 577) % 1455), i));
    frames.push(f);
    send(chip, f);
    total += f.length;
  }
  assert.equal(sent.length, frames.length);
  sent.forEach((f, i) => assert.deepEqual(f, frames[i], `frame ${i}`));
});

test('a full RX buffer drops the new frame, counts it, keeps the queued ones', () => {
  const chip = new W5500();
  bringUp(chip);
  const queued = [];
  for (let i = 0; ; i++) {
    const f = ethFrame(1514, i);
    if (!chip.receive(f)) break;
    queued.push(Array.from(f));
  }
  assert.equal(queued.length, 10, '10 x 1516 bytes fit in 16384');
  assert.equal(chip.stats.overflowed, 1);
  for (const f of queued) assert.deepEqual(recv(chip), f);
  assert.equal(recv(chip), null);
  assert.ok(chip.receive(ethFrame(60, 9)), 'room again once read');
});

test('MAC filter (Sn_MR MFEN): own unicast, broadcast and multicast pass; others are dropped', () => {
  const chip = new W5500();
  bringUp(chip, { filter: true });
  assert.ok(chip.receive(ethFrame(60, 1, MAC)));
  assert.ok(chip.receive(ethFrame(60, 2)));
  assert.ok(chip.receive(ethFrame(60, 3, [0x01, 0x00, 0x5e, 0, 0, 0xfb])));
  assert.ok(!chip.receive(ethFrame(60, 4, [0x02, 9, 9, 9, 9, 9])));
  assert.equal(chip.stats.filtered, 1);
  const open = new W5500();
  bringUp(open, { filter: false });
  assert.ok(open.receive(ethFrame(60, 4, [0x02, 9, 9, 9, 9, 9])), 'no filter: everything');
});

test('closed socket or held in reset: frames are not stored, SPI reads nothing', () => {
  const chip = new W5500();
  assert.ok(!chip.receive(ethFrame(60, 1)), 'socket not open');
  bringUp(chip);
  chip.setReset(true);
  assert.equal(read(chip, COMMON, 0x39, 1)[0], 0, 'no answer in reset');
  chip.setReset(false);
  assert.equal(read(chip, S0_REG, 0x03, 1)[0], 0, 'reset closed socket 0');
  assert.ok(!chip.receive(ethFrame(60, 1)));
});

test('open resets the pointers; CMD_OPEN on UDP carries no MACRAW traffic', () => {
  const chip = new W5500();
  bringUp(chip);
  chip.receive(ethFrame(80, 1));
  command(chip, CMD_OPEN);
  assert.equal(read16(chip, S0_REG, RSR), 0);
  write(chip, S0_REG, 0x00, [0x02]);
  command(chip, CMD_OPEN);
  assert.equal(read(chip, S0_REG, 0x03, 1)[0], 0x22);
  assert.ok(!chip.receive(ethFrame(60, 1)));
});

/** A broadcast IPv4/UDP frame to port `port` carrying a DHCP message of `type`
 * (option 53 after a PAD and another option), `extra` bytes of options after. */
function dhcpFrame(type, port = 67, extra = 0) {
  const f = ethFrame(14 + 20 + 8 + 240 + 8 + extra, type);
  f[14] = 0x45; // IPv4, 20-byte header
  f[23] = 17; // UDP
  f[14 + 20 + 2] = port >> 8;
  f[14 + 20 + 3] = port & 0xff;
  f.set([0, 12, 1, 0x41, 53, 1, type, 255], 14 + 20 + 8 + 240);
  return f;
}

test('dhcpServerType: the option 53 of a frame to UDP port 67, -1 for any other frame', () => {
  assert.equal(dhcpServerType(dhcpFrame(1)), 1);
  assert.equal(dhcpServerType(dhcpFrame(7, 67, 100)), 7);
  assert.equal(dhcpServerType(dhcpFrame(3, 68)), -1, 'to the client port');
  const arp = dhcpFrame(1);
  arp[13] = 0x06;
  assert.equal(dhcpServerType(arp), -1, 'not IPv4');
  const tcp = dhcpFrame(1);
  tcp[23] = 6;
  assert.equal(dhcpServerType(tcp), -1, 'not UDP');
  const none = dhcpFrame(1);
  none[14 + 20 + 8 + 240 + 4] = 255; // END before option 53
  assert.equal(dhcpServerType(none), 0);
  assert.equal(dhcpServerType(dhcpFrame(1).subarray(0, 40)), -1, 'too short');
});

test('counters: DHCP frames by type received, lost to a full buffer and read out by the driver', () => {
  const chip = new W5500();
  bringUp(chip);
  for (const type of [1, 3, 7, 1]) assert.ok(chip.receive(dhcpFrame(type)));
  assert.ok(chip.receive(ethFrame(60, 1)), 'not DHCP: counted as a frame only');
  assert.deepEqual(chip.stats.dhcpReceived.slice(0, 8), [0, 2, 0, 1, 0, 0, 0, 1]);
  assert.equal(chip.stats.readOut, 0);
  recv(chip); // the length header's RECV alone reads no frame out; the frame's does
  recv(chip);
  assert.equal(chip.stats.readOut, 2);
  assert.deepEqual(chip.stats.dhcpReadOut.slice(0, 4), [0, 1, 0, 1]);
  while (recv(chip) !== null);
  assert.equal(chip.stats.readOut, 5);
  assert.deepEqual(chip.stats.dhcpReadOut, chip.stats.dhcpReceived);
  // Fill the buffer with large frames, then a DHCP frame finds no room.
  while (chip.receive(ethFrame(1514, 2)));
  while (chip.receive(ethFrame(60, 3)));
  assert.ok(!chip.receive(dhcpFrame(3)));
  assert.equal(chip.stats.dhcpOverflowed[3], 1);
  assert.equal(chip.stats.dhcpReceived[3], 1, 'a lost frame is not counted received');
});
