// The I/O board, simulated: the real firmware (device/mcu) in MicroPython's WebAssembly port,
// its link on a pseudo-terminal, its pins modelled here.
//
// node ioboard_host.mjs --fd N --firmware DIR [--display PATH] [--seed S]
//
// fd N is the master side of the pty whose slave the terminal's driver opens. Control lines
// (JSON, one per line) come on stdin; what the board does (relay, tone, drawer, boots) goes out
// as JSON lines on stdout. A reset builds a new interpreter: the firmware's RAM is gone, the
// physical world (held keys, the drawer) stays.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import tty from "node:tty";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];
const FIRMWARE = args.firmware;
const FLASHED = ["frames.py", "channel.py", "keys.py", "drawer.py", "buzzer.py", "board.py", "pins.py", "hal_sim.py"];
const t0 = performance.now();
const now = () => Math.floor(performance.now() - t0);

let seed = Number(args.seed || 1) >>> 0;
function rand() { // mulberry32: reproducible fault patterns from a seed
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function emit(obj) { process.stdout.write(JSON.stringify({ t: now(), ...obj }) + "\n"); }

// -- the physical world ---------------------------------------------------------------------
const pins = {}; // filled from the firmware's pins.py at the first boot
const level = new Map(); // driven outputs: pin -> 0/1
const held = new Map(); // "r,c" -> {bounceUntil}
const world = { drawerOpen: false, jammed: false, relay: 0, tone: 0, relayOnAt: 0 };
let rowDriven = -1;

function colRead(c) {
  for (const [key, info] of held) {
    const [r, cc] = key.split(",").map(Number);
    if (cc !== c) continue;
    const rowPin = pins.ROW_PINS[r];
    if (level.get(rowPin) !== 0) continue;
    if (info.bounceUntil > now() && rand() < 0.5) continue; // the contact chatters
    return 0;
  }
  return 1;
}

function setRelay(v) {
  if (v === world.relay) return;
  world.relay = v;
  if (v) world.relayOnAt = now();
  else if (world.relayOnAt !== null) {
    const width = now() - world.relayOnAt;
    emit({ ev: "pulse", ms: width });
    // A 24 V solenoid needs a pulse of some 20 ms to release the latch.
    if (width >= 20 && !world.jammed) setDrawer(true);
  }
  emit({ ev: "relay", on: !!v });
}

function setDrawer(open) {
  if (open === world.drawerOpen) return;
  world.drawerOpen = open;
  emit({ ev: "drawer", open });
}

// -- the link -------------------------------------------------------------------------------
const fd = Number(args.fd);
const rx = [];
const faults = { corrupt: 0, drop: 0, dup: 0, inCorrupt: 0, inDrop: 0, inDup: 0 };
let muted = false;
let cutNextFrame = -1;
let resetOnRx = -1;
const counts = { framesOut: 0, framesIn: 0, dropped: 0, duplicated: 0, corrupted: 0 };
const link = new tty.ReadStream(fd);
const out = new tty.WriteStream(fd);
link.on("error", (e) => emit({ ev: "link_error", code: e.code }));
out.on("error", (e) => emit({ ev: "link_error", code: e.code }));

function damage(buf) {
  const b = Buffer.from(buf);
  const i = Math.floor(rand() * b.length);
  b[i] ^= 1 << Math.floor(rand() * 8);
  counts.corrupted++;
  return b;
}

link.on("data", (chunk) => {
  if (muted) return;
  let data = Buffer.from(chunk);
  if (resetOnRx >= 0) { // a reset while this frame is coming in
    rx.push(data.subarray(0, resetOnRx));
    resetOnRx = -1;
    tick();
    boot(1);
    return;
  }
  if (rand() < faults.inDrop) { counts.dropped++; return; }
  if (rand() < faults.inCorrupt) data = damage(data);
  rx.push(data);
  if (rand() < faults.inDup) { counts.duplicated++; rx.push(data); }
  counts.framesIn++;
  tick();
});

function linkWrite(hex) {
  if (muted) return;
  let data = Buffer.from(hex, "hex");
  counts.framesOut++;
  if (cutNextFrame >= 0) { // the board resets halfway through sending this frame
    out.write(data.subarray(0, cutNextFrame));
    cutNextFrame = -1;
    pendingReset = 1;
    return;
  }
  if (rand() < faults.drop) { counts.dropped++; return; }
  if (rand() < faults.corrupt) data = damage(data);
  out.write(data);
  if (rand() < faults.dup) { counts.duplicated++; out.write(data); }
}

// -- the interpreter ------------------------------------------------------------------------
let mp = null;
let board = null;
let runOnce = null;
let bootCount = 0;
let cause = 0;
let wdt = { ms: 0, fed: 0 };
let pendingReset = -1;
let hang = false;
let stopped = false;

const simhw = {
  ticks_ms: () => now() & 0x3fffffff,
  pin_read: (n) => {
    if (n === pins.SWITCH_PIN) return world.drawerOpen ? pins.SWITCH_OPEN_LEVEL : 1 - pins.SWITCH_OPEN_LEVEL;
    const c = pins.COL_PINS.indexOf(n);
    if (c >= 0) {
      if (hang) throw new Error("simulated firmware fault");
      return colRead(c);
    }
    return level.get(n) ?? 1;
  },
  pin_write: (n, v) => {
    level.set(n, v);
    if (n === pins.RELAY_PIN) setRelay(v);
  },
  link_read: () => {
    if (!rx.length) return "";
    const all = Buffer.concat(rx.splice(0));
    return all.toString("hex");
  },
  link_write: linkWrite,
  tone: (f) => { if (f !== world.tone) { world.tone = f; emit({ ev: "tone", freq: f }); } },
  display_write: (hex) => {
    if (displayFd !== null) fs.writeSync(displayFd, Buffer.from(hex, "hex"));
    else emit({ ev: "display", hex });
  },
  wdt_start: (ms) => { wdt = { ms, fed: now() }; },
  wdt_feed: () => { wdt.fed = now(); },
  boot_id: () => crypto.randomInt(0, 0x7fffffff), // unlike the fault odds, never repeatable
  reset_cause: () => cause,
  maintenance: () => { emit({ ev: "maintenance" }); pendingReset = 2; },
};

const displayFd = args.display ? fs.openSync(args.display, "r+") : null;

async function boot(why) {
  cause = why;
  board = runOnce = null;
  // At reset the relay pin floats and the driver's pull-down drops the solenoid.
  level.clear();
  setRelay(0);
  if (world.tone) simhw.tone(0);
  wdt = { ms: 0, fed: now() };
  hang = false;
  const interp = await loadMicroPython({
    heapsize: 256 * 1024,
    stdout: (line) => emit({ ev: "log", line }),
    stderr: (line) => emit({ ev: "log", line }),
  });
  interp.FS.mkdir("/flash");
  for (const name of FLASHED) {
    interp.FS.writeFile(`/flash/${name}`, fs.readFileSync(path.join(FIRMWARE, name)));
  }
  interp.registerJsModule("simhw", simhw);
  interp.runPython("import sys\nsys.path.insert(0, '/flash')\nimport pins");
  const p = interp.pyimport("pins");
  for (const k of ["ROW_PINS", "COL_PINS"]) pins[k] = [...p[k]];
  for (const k of ["RELAY_PIN", "SWITCH_PIN", "SWITCH_OPEN_LEVEL", "WATCHDOG_MS"]) pins[k] = p[k];
  interp.runPython("import board, hal_sim\nB = board.Board(hal_sim.Hal())");
  // The firmware's debounced view of one key, for the simulated finger (a bytearray cannot
  // be indexed through the JS proxy).
  interp.runPython("def _key_down(i):\n    return B.keys.down[i]");
  keyDown = interp.globals.get("_key_down");
  mp = interp;
  board = interp.globals.get("B");
  runOnce = board.run_once;
  bootCount++;
  emit({ ev: "boot", n: bootCount, cause: ["power on", "watchdog", "soft reset", "unknown"][why] });
}

let keyDown = null;
let busy = false;
function tick() {
  if (!runOnce || busy || stopped) return;
  busy = true;
  try {
    runOnce();
  } catch (e) {
    emit({ ev: "error", text: String(e.message || e) });
  } finally {
    busy = false;
  }
  if (pendingReset >= 0) {
    const why = pendingReset;
    pendingReset = -1;
    boot(why);
    return;
  }
  if (wdt.ms && now() - wdt.fed > wdt.ms) {
    emit({ ev: "watchdog" });
    boot(1);
  }
}

// -- control --------------------------------------------------------------------------------
function cellOf(msg) {
  if (msg.row !== undefined) return [msg.row, msg.col];
  const code = [...mp.pyimport("frames").KEY_NAMES].indexOf(msg.key);
  const cells = [...board.keys.cells];
  const i = cells.indexOf(code);
  if (code < 0 || i < 0) throw new Error(`key ${msg.key} is not on the board's layout`);
  const cols = board.keys.cols;
  return [Math.floor(i / cols), i % cols];
}

// A finger on a key: down until the firmware has it down (and at least hold_ms), then up
// until the firmware has it up. Held by wall time alone, a tap on a starved machine could
// come and go between two scans and the key would never have been pressed at all.
const taps = []; // {cell, index, phase, since, hold, giveUp, id}
function fingers() {
  const t = now();
  while (taps.length) {
    const tap = taps[0];
    const alive = !!runOnce && !hang;
    const down = alive ? keyDown(tap.index) === 1 : null;
    if (tap.phase === "down") {
      if (t - tap.since < tap.hold || (alive && !down && t < tap.giveUp)) return;
      held.delete(tap.cell);
      Object.assign(tap, { phase: "up", since: t, giveUp: t + 5000 });
      return;
    }
    if (t - tap.since < tap.hold || (alive && down && t < tap.giveUp)) return;
    taps.shift();
    emit({ ev: "reply", id: tap.id });
    if (taps.length) {
      const next = taps[0];
      Object.assign(next, { since: t, giveUp: t + 5000 });
      held.set(next.cell, { bounceUntil: t + next.bounce });
    }
  }
}

const ops = {
  tap: (m) => {
    const [r, c] = cellOf(m);
    const cell = `${r},${c}`;
    const t = now();
    if (!taps.length) held.set(cell, { bounceUntil: t + (m.bounce_ms || 0) });
    taps.push({ cell, index: r * board.keys.cols + c, phase: "down", since: t,
      hold: m.hold_ms || 60, giveUp: t + 5000, id: m.id, bounce: m.bounce_ms || 0 });
    return null; // answered by fingers() once the key is up again
  },
  press: (m) => { const [r, c] = cellOf(m); held.set(`${r},${c}`, { bounceUntil: now() + (m.bounce_ms || 0) }); },
  release: (m) => { const [r, c] = cellOf(m); held.delete(`${r},${c}`); },
  drawer: (m) => setDrawer(!!m.open),
  jam: (m) => { world.jammed = !!m.on; },
  reset: (m) => {
    if (m.cut !== undefined) cutNextFrame = m.cut;
    else if (m.on_rx !== undefined) resetOnRx = m.on_rx;
    else pendingReset = m.cause === "watchdog" ? 1 : 0;
  },
  faults: (m) => { Object.assign(faults, m.set || {}); if (m.seed !== undefined) seed = m.seed >>> 0; },
  mute: (m) => { muted = !!m.on; if (muted) rx.length = 0; },
  hang: () => { hang = true; },
  state: () => ({
    relay: world.relay, drawer_open: world.drawerOpen, tone: world.tone, boots: bootCount,
    counts, alive: !!runOnce, errors: runOnce ? board.errors : 0,
  }),
  exec: (m) => { mp.runPython(`_r = repr(${m.expr})`); return { value: mp.globals.get("_r") }; },
  quit: () => { stopped = true; setTimeout(() => process.exit(0), 10); },
};

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let msg;
  try { msg = JSON.parse(line); } catch { emit({ ev: "reply", error: `not JSON: ${line}` }); return; }
  try {
    const result = ops[msg.op](msg);
    if (result !== null) emit({ ev: "reply", id: msg.id, ...(result || {}) });
  } catch (e) {
    emit({ ev: "reply", id: msg.id, error: String(e.message || e) });
  }
});
process.stdin.on("end", () => { stopped = true; process.exit(0); });

await boot(Number(args.cause || 0));
setInterval(() => { tick(); fingers(); }, 1);
