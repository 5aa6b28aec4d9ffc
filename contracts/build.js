// Compiles contracts/src/*.sol with solc-js (standard JSON, optimizer on) and
// writes one build/<Contract>.json per contract: {contractName, sourceName,
// compiler, abi, bytecode}. Plus build/<Contract>.abi and build/<Contract>.bin,
// the files abigen reads. Run through generate.sh, which also makes the Go
// bindings.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const srcDir = path.join(__dirname, 'src');
const outDir = path.join(__dirname, 'build');

const sources = {};
for (const file of fs.readdirSync(srcDir).sort()) {
  if (file.endsWith('.sol')) {
    sources[file] = { content: fs.readFileSync(path.join(srcDir, file), 'utf8') };
  }
}

const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    // Keep the bytecode reproducible across machines and paths.
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of output.errors || []) {
  process.stderr.write(e.formattedMessage + '\n');
  if (e.severity === 'error') failed = true;
}
if (failed) {
  process.exit(1);
}

fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });
for (const sourceName of Object.keys(output.contracts).sort()) {
  for (const [contractName, c] of Object.entries(output.contracts[sourceName])) {
    const bytecode = c.evm.bytecode.object;
    if (!bytecode) continue; // interfaces have no code
    const artifact = {
      contractName,
      sourceName: 'src/' + sourceName,
      compiler: 'solc-js ' + solc.version(),
      abi: c.abi,
      bytecode: '0x' + bytecode,
    };
    fs.writeFileSync(path.join(outDir, contractName + '.json'), JSON.stringify(artifact, null, 2) + '\n');
    fs.writeFileSync(path.join(outDir, contractName + '.abi'), JSON.stringify(c.abi) + '\n');
    fs.writeFileSync(path.join(outDir, contractName + '.bin'), bytecode);
    process.stdout.write('built ' + contractName + '\n');
  }
}
