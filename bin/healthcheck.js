#!/usr/bin/env node
// The container's HEALTHCHECK: asks this server's /healthz on the port and scheme it
// serves (LARDER_PORT; https when LARDER_TLS_CERT is set, whatever name the certificate
// has, since the check dials 127.0.0.1). Exit 0 when healthy, 1 otherwise.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const port = Number(process.env.LARDER_PORT || 7373);
const request = process.env.LARDER_TLS_CERT ? httpsRequest : httpRequest;
const req = request({ host: '127.0.0.1', port, path: '/healthz', timeout: 2500, rejectUnauthorized: false }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', () => process.exit(1));
req.end();
