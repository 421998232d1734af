// Runs MicroPython unittest modules against the I/O-board firmware in the WebAssembly port.
//
// node run_unittest.mjs FIRMWARE_DIR TESTS_DIR module [module...]
//
// The firmware files go to /flash and the test modules to /tests in the interpreter's own
// filesystem. micropython-lib's unittest (frozen into this port) runs each module's TestCases.
// unittest does not set an exit status, so this script does: 0 only when every test ran and
// passed, 1 otherwise; the last line is "N passed, N failed".
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const [firmware, tests, ...modules] = process.argv.slice(2);
const mp = await loadMicroPython({
  heapsize: 2 * 1024 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
for (const [dir, mount] of [[firmware, "/flash"], [tests, "/tests"]]) {
  mp.FS.mkdir(mount);
  for (const name of fs.readdirSync(dir)) {
    if (name.endsWith(".py")) mp.FS.writeFile(`${mount}/${name}`, fs.readFileSync(path.join(dir, name)));
  }
}
mp.runPython(`
import sys
sys.path.insert(0, '/flash')
sys.path.insert(0, '/tests')
import unittest

def _run(name):
    module = __import__(name)
    suite = unittest.TestSuite()
    for attr in dir(module):
        case = getattr(module, attr)
        if isinstance(case, type) and issubclass(case, unittest.TestCase) and case is not unittest.TestCase:
            suite.addTest(case)
    result = unittest.TextTestRunner().run(suite)
    return (result.testsRun, result.failuresNum + result.errorsNum, result.skippedNum)
`);
let ran = 0, failed = 0;
for (const name of modules) {
  try {
    const r = [...mp.globals.get("_run")(name)];
    ran += r[0]; failed += r[1];
    if (r[0] === 0) { console.log(`${name}: no test ran`); failed += 1; }
  } catch (e) {
    console.log(`${name}: could not run: ${e.message}`);
    failed += 1;
  }
}
console.log(`${ran - failed < 0 ? 0 : ran - failed} passed, ${failed} failed`);
process.exit(failed === 0 && ran > 0 ? 0 : 1);
