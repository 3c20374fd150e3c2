// A central system of a few lines on ocpp-rpc in strict mode: every message in both directions is
// checked against the official OCPP JSON schemas of the version it speaks (argv[3]: ocpp1.6, the
// default, or ocpp2.0.1), a breach answered with that version's error name.
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

const protocol = process.argv[3] || 'ocpp1.6';
const server = new RPCServer({ protocols: [protocol], strictMode: true });
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
  if (protocol === 'ocpp2.0.1') {
    client.handle('Authorize', () => ({ idTokenInfo: { status: 'Accepted' } }));
    client.handle('TransactionEvent', ({ params }) => (params.eventType === 'Ended' ? { totalCost: 2.5 } : {}));
    for (const notification of ['MeterValues', 'NotifyReport', 'NotifyDisplayMessages', 'NotifyEvent', 'ReportChargingProfiles',
      'ReservationStatusUpdate', 'FirmwareStatusNotification', 'LogStatusNotification']) {
      client.handle(notification, () => ({}));
    }
    return;
  }
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
