// A central system of a few lines on ocpp-rpc in strict mode: every message in both directions is
// checked against the official OCPP 1.6 JSON schemas, a breach answered with the 1.6 error name.
// Real central systems are stricter still, so are we: a date-time with more than three decimals
// is a breach too. It speaks JSON lines: on stdout every frame and every breach, on stdin the
// CALLs a test sends the connected pile ({"ref", "method", "params"}), answered on stdout.
const { RPCServer } = require('ocpp-rpc');
const readline = require('readline');

const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?(Z|[+-]\d\d:\d\d)$/;
const LOOKS_LIKE_TIME = /^\d{4}-\d\d-\d\dT/;
let transactionId = 5000;
let pile = null;

function badTimes(value, path, found) {
  if (typeof value === 'string' && LOOKS_LIKE_TIME.test(value) && !DATE_TIME.test(value)) {
    found.push(`${path}: ${value}`);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) badTimes(v, `${path}/${k}`, found);
  }
  return found;
}

const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true });
server.on('client', (client) => {
  pile = client;
  say({ event: 'connected', identity: client.identity });
  client.on('message', ({ message, outbound }) => {
    const frame = JSON.parse(message.toString());
    say({ event: 'message', outbound, frame });
    if (!outbound) {
      for (const breach of badTimes(frame, '', [])) say({ event: 'breach', error: `date-time ${breach}` });
    }
  });
  client.on('strictValidationFailure', ({ error }) => say({ event: 'breach', error: String(error) }));
  client.on('badMessage', ({ error }) => say({ event: 'breach', error: `bad message: ${error}` }));
  client.on('close', () => say({ event: 'closed' }));
  const now = () => new Date().toISOString();
  client.handle('BootNotification', () => ({ status: 'Accepted', interval: 300, currentTime: now() }));
  client.handle('Heartbeat', () => ({ currentTime: now() }));
  client.handle('StatusNotification', () => ({}));
  client.handle('Authorize', () => ({ idTagInfo: { status: 'Accepted' } }));
  client.handle('StartTransaction', () => ({ transactionId: ++transactionId, idTagInfo: { status: 'Accepted' } }));
  client.handle('MeterValues', () => ({}));
  client.handle('StopTransaction', () => ({}));
  client.handle('DataTransfer', () => ({ status: 'Accepted' }));
  for (const notification of ['DiagnosticsStatusNotification', 'FirmwareStatusNotification',
    'SignedFirmwareStatusNotification', 'LogStatusNotification']) {
    client.handle(notification, () => ({}));
  }
});

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const { ref, method, params } = JSON.parse(line);
  try {
    say({ event: 'result', ref, result: await pile.call(method, params) });
  } catch (err) {
    say({ event: 'result', ref, error: err.rpcErrorCode || String(err) });
  }
});

server.listen(Number(process.argv[2]), '127.0.0.1').then(() => say({ event: 'listening' }));
