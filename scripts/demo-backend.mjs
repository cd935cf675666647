// A tiny demo backend for `make run`: answers every request with its name, the path it saw and
// the Host header, so you can see where the proxies sent you.
// Usage: node scripts/demo-backend.mjs NAME HOST:PORT
import http from 'node:http';
import { formatHostPort, parseHostPort } from '@ferry/shared';

const [name = 'backend', address = '127.0.0.1:18081'] = process.argv.slice(2);
const { host, port } = parseHostPort(address, 'HOST:PORT');

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = `${name}: ${req.method} ${req.url} (host ${req.headers.host ?? '-'})\n`;
    res.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      'x-backend': name,
    });
    res.end(body);
  });
});
server.listen(port, host, () => {
  console.log(
    JSON.stringify({ msg: 'demo backend ready', name, address: formatHostPort(host, port) }),
  );
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
