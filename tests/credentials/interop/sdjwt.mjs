#!/usr/bin/env node
/*
 * @sd-jwt/sd-jwt-vc (OpenWallet Foundation's SD-JWT VC library) as an independent verifier for
 * CareLedger's interoperability tests (test_interop_sd_jwt_vc.py).
 *
 *   node sdjwt.mjs verify < [{"sdJwt": "...", "issuerJwk": {...}, "statusOrigin": "http://..."}]
 *
 * Prints {"results": [{"verified": bool, "error": string|null, "statuses": [n, ...],
 * "fetched": [url, ...]}]}. The issuer's Ed25519 JWK verifies both the credential and its status
 * list token. Status list tokens are fetched by the library's own fetcher (Accept and
 * Content-Type application/statuslist+jwt), but only from statusOrigin (a running CareLedger
 * node): any other URL is refused.
 */
import {createHash, createPublicKey, verify} from 'node:crypto';

import {SDJwtVcInstance} from '@sd-jwt/sd-jwt-vc';

function ed25519Verifier(jwk) {
  const key = createPublicKey({key: jwk, format: 'jwk'});
  return async (data, signature) =>
    verify(null, Buffer.from(data, 'utf8'), key, Buffer.from(signature, 'base64url'));
}

async function verifyOne({sdJwt, issuerJwk, statusOrigin}) {
  const fetched = [];
  const statuses = [];
  const origin = new URL(statusOrigin).origin;
  const instance = new SDJwtVcInstance({
    hasher: (data, alg) => {
      if(alg !== 'sha-256') {
        throw new Error(`unsupported hash ${alg}`);
      }
      return new Uint8Array(createHash('sha256').update(data).digest());
    },
    verifier: ed25519Verifier(issuerJwk),
    statusListFetcher: async uri => {
      if(new URL(uri).origin !== origin) {
        throw new Error(`refusing to fetch ${uri}: not under ${origin}`);
      }
      fetched.push(uri);
      return instance.statusListFetcher(uri);  // the library's own HTTP fetcher
    },
    statusValidator: async status => {
      statuses.push(status);
      return instance.statusValidator(status);  // the library's own rule: 0 is valid
    },
  });
  try {
    await instance.verify(sdJwt);
    return {verified: true, error: null, statuses, fetched};
  } catch(error) {
    return {verified: false, error: `${error.name}: ${error.message}`, statuses, fetched};
  }
}

async function main() {
  if(process.argv[2] !== 'verify') {
    throw new Error('usage: node sdjwt.mjs verify < items.json');
  }
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  const items = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const results = [];
  for(const item of items) {
    results.push(await verifyOne(item));
  }
  process.stdout.write(JSON.stringify({results}) + '\n');
}

await main();
