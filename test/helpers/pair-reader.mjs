// A separate process that samples a certificate pair in a tight loop while the agent swaps it, and
// checks with node:crypto that every sample's key belongs to its certificate. Started with fork()
// by test/integration/certificate-acme.test.ts; plain JavaScript so it runs on bare node.
//
// It reads the pair the way docs/certificates.md tells a reader to: resolve the `current` link of
// the pair's folder once, then read both files from the version folder it names. It also reads
// certFile and keyFile one after the other, as nginx's configuration load does, and counts how often
// those two opens straddled a switch (reported, not a failure: see docs/certificates.md).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

const [certFile, keyFile, store] = process.argv.slice(2);
const stats = { samples: 0, mismatches: 0, errors: 0, straddled: 0, serials: [] };
const seen = new Set();
let stopping = false;

function matches(certPem, keyPem) {
  return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
}

/** The two files to read for one consistent look: inside the version `current` names, resolved once. */
function pairFiles() {
  try {
    const version = realpathSync(join(store, 'current'));
    return { cert: join(version, 'cert.pem'), key: join(version, 'key.pem'), linked: true };
  } catch {
    // No linked layout yet: plain files from before (nobody rewrites them in place).
    return { cert: certFile, key: keyFile, linked: false };
  }
}

function sampleOnce() {
  const files = pairFiles();
  let cert;
  let key;
  try {
    cert = readFileSync(files.cert, 'utf8');
    key = readFileSync(files.key, 'utf8');
  } catch {
    // Only a version two switches old is ever removed; counted, but it is not a mismatch.
    stats.errors++;
    return;
  }
  stats.samples++;
  if (!matches(cert, key)) stats.mismatches++;
  const serial = new X509Certificate(cert).serialNumber.toUpperCase();
  if (!seen.has(serial)) {
    seen.add(serial);
    stats.serials.push(serial);
  }
  if (!files.linked) return;
  try {
    if (!matches(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'))) stats.straddled++;
  } catch {
    // certFile or keyFile deleted by the test
  }
}

function loop() {
  const until = performance.now() + 20;
  while (!stopping && performance.now() < until) sampleOnce();
  if (!stopping) setImmediate(loop);
}

process.on('message', (msg) => {
  if (msg !== 'stop') return;
  stopping = true;
  process.send?.(stats, () => process.exit(0));
});
process.send?.('ready');
loop();
