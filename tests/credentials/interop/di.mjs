#!/usr/bin/env node
/*
 * Digital Bazaar's Verifiable Credentials stack as an independent issuer and verifier for
 * CareLedger's interoperability tests (test_interop_digitalbazaar.py).
 *
 *   node di.mjs issue  < [{"cryptosuite": "eddsa-rdfc-2022", "credential": {...}}, ...]
 *   node di.mjs verify < [{...secured credential...}, ...]
 *   node di.mjs verify --context-origin http://127.0.0.1:PORT < [...]
 *   node di.mjs verify --ed2020-multikey < [...]   (did:key as Multikey for every suite)
 *
 * Both read a JSON array on stdin and print one JSON object on stdout:
 *   {"contexts": {url: file}, "results": [...]}   one result per input item, in order
 * issue:  {"ok": true, "did", "verificationMethod", "credential"} or {"ok": false, "error"}
 *         (a fresh Ed25519 key per item; the credential's issuer is set to its did:key)
 * verify: {"verified": bool, "errors": [message, ...]}
 * cryptosuite: "eddsa-rdfc-2022", "eddsa-jcs-2022" or "Ed25519Signature2020".
 *
 * The document loader serves CareLedger's bundled JSON-LD contexts
 * (src/careledger/credentials/contexts/) and did:key documents, and refuses every other URL:
 * nothing is ever fetched from the network. With --context-origin, the health context is NOT
 * taken from the bundle: the loader fetches every URL under that origin (a running CareLedger
 * node) over HTTP and still refuses any other host; the output then lists the fetched URLs.
 */
import {readFile} from 'node:fs/promises';

import * as vc from '@digitalbazaar/vc';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {Ed25519Signature2020} from '@digitalbazaar/ed25519-signature-2020';
import {Ed25519VerificationKey2020} from '@digitalbazaar/ed25519-verification-key-2020';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {
  createSignCryptosuite as jcsSignSuite,
  createVerifyCryptosuite as jcsVerifySuite
} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import {driver as didKeyDriver} from '@digitalbazaar/did-method-key';

const CONTEXTS_DIR = new URL('../../../src/careledger/credentials/contexts/', import.meta.url);

// Same table as careledger.credentials.document_loader (the pytest checks they agree).
const CONTEXT_FILES = {
  'https://www.w3.org/ns/credentials/v2': 'credentials-v2.jsonld',
  'https://www.w3.org/2018/credentials/v1': 'credentials-v1.jsonld',
  'https://www.w3.org/ns/credentials/undefined-terms/v2': 'credentials-undefined-terms-v2.jsonld',
  'https://www.w3.org/ns/credentials/examples/v2': 'credentials-examples-v2.jsonld',
  'https://w3id.org/security/data-integrity/v2': 'data-integrity-v2.jsonld',
  'https://w3id.org/security/data-integrity/v1': 'data-integrity-v1.jsonld',
  'https://w3id.org/security/multikey/v1': 'multikey-v1.jsonld',
  'https://w3id.org/security/suites/ed25519-2020/v1': 'ed25519-signature-2020-v1.jsonld',
  'https://www.w3.org/ns/credentials/status/v1': 'vc-bitstring-status-list-v1.jsonld',
  'https://www.w3.org/ns/did/v1': 'did-v1.jsonld',
  'https://careledger.dev/contexts/health/v1': 'careledger-health-v1.jsonld',
};

const contexts = new Map();
for(const [url, file] of Object.entries(CONTEXT_FILES)) {
  contexts.set(url, JSON.parse(await readFile(new URL(file, CONTEXTS_DIR), 'utf8')));
}

// did:key in two shapes: Multikey verification methods (Data Integrity, and what CareLedger
// resolves) and Ed25519VerificationKey2020 (what Ed25519Signature2020 insists on).
const multikeyDids = didKeyDriver();
multikeyDids.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});
const key2020Dids = didKeyDriver();
key2020Dids.use({
  multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519VerificationKey2020.from
});

const HEALTH_V1 = 'https://careledger.dev/contexts/health/v1';
const originAt = process.argv.indexOf('--context-origin');
const contextOrigin = originAt > 0 ? new URL(process.argv[originAt + 1]).origin : null;
const fetched = [];
// --ed2020-multikey: resolve did:key to Multikey methods for Ed25519Signature2020 as well.
const ed2020Multikey = process.argv.includes('--ed2020-multikey');

async function fromNode(url) {
  const response = await fetch(url, {headers: {Accept: 'application/ld+json'}});
  if(!response.ok) {
    throw new Error(`${url}: HTTP ${response.status}`);
  }
  const type = response.headers.get('content-type') || '';
  if(!type.startsWith('application/ld+json')) {
    throw new Error(`${url}: content-type ${type} is not application/ld+json`);
  }
  fetched.push(url);
  return {contextUrl: null, documentUrl: url, document: await response.json()};
}

function loaderFor(dids) {
  return async url => {
    if(contextOrigin && URL.canParse(url) && new URL(url).origin === contextOrigin) {
      return fromNode(url);
    }
    if(contexts.has(url) && !(contextOrigin && url === HEALTH_V1)) {
      return {contextUrl: null, documentUrl: url, document: structuredClone(contexts.get(url))};
    }
    if(url.startsWith('did:key:')) {
      const document = await dids.get({url});
      return {contextUrl: null, documentUrl: url, document};
    }
    throw new Error(`document loader refuses ${url}: not a bundled context or did:key`);
  };
}
const multikeyLoader = loaderFor(multikeyDids);
const key2020Loader = loaderFor(key2020Dids);

function suiteFor(cryptosuite, keyPair) {
  const signer = keyPair.signer();
  if(cryptosuite === 'eddsa-rdfc-2022') {
    return [new DataIntegrityProof({signer, cryptosuite: eddsaRdfc2022}), multikeyLoader];
  }
  if(cryptosuite === 'eddsa-jcs-2022') {
    return [new DataIntegrityProof({signer, cryptosuite: jcsSignSuite()}), multikeyLoader];
  }
  if(cryptosuite === 'Ed25519Signature2020') {
    return [new Ed25519Signature2020({signer}), key2020Loader];
  }
  throw new Error(`unknown cryptosuite ${cryptosuite}`);
}

// A list of cryptosuites makes a proof set: one proof per suite, all by the same key.
async function issueOne({cryptosuite, credential}) {
  const keyPair = await Ed25519Multikey.generate();
  const did = `did:key:${keyPair.publicKeyMultibase}`;
  keyPair.controller = did;
  keyPair.id = `${did}#${keyPair.publicKeyMultibase}`;
  let secured = {...credential, issuer: did};
  for(const name of Array.isArray(cryptosuite) ? cryptosuite : [cryptosuite]) {
    const [suite, documentLoader] = suiteFor(name, keyPair);
    secured = await vc.issue({credential: secured, suite, documentLoader});
  }
  return {ok: true, did, verificationMethod: keyPair.id, credential: secured};
}

function messages(error, out = []) {
  if(!error) {
    return out;
  }
  out.push(`${error.name || 'Error'}: ${error.message}`);
  for(const inner of error.errors || []) {
    messages(inner, out);
  }
  if(error.cause) {
    messages(error.cause, out);
  }
  return out;
}

async function verifyOne(credential) {
  const is2020 = credential?.proof?.type === 'Ed25519Signature2020';
  const suite = is2020 ? new Ed25519Signature2020() : [
    new DataIntegrityProof({cryptosuite: eddsaRdfc2022}),
    new DataIntegrityProof({cryptosuite: jcsVerifySuite()}),
  ];
  const result = await vc.verifyCredential({
    credential, suite,
    documentLoader: is2020 && !ed2020Multikey ? key2020Loader : multikeyLoader,
    // Status is CareLedger's to check (there is no list to fetch here); @digitalbazaar/vc
    // refuses a credential with credentialStatus unless given a checker.
    checkStatus: async () => ({verified: true}),
  });
  const errors = messages(result.error);
  for(const r of result.results || []) {
    if(!r.verified) {
      messages(r.error, errors);
    }
  }
  return {verified: result.verified === true, errors: [...new Set(errors)]};
}

async function main() {
  const command = process.argv[2];
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  const items = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  if(!Array.isArray(items)) {
    throw new TypeError('stdin must be a JSON array');
  }
  const results = [];
  for(const item of items) {
    if(command === 'issue') {
      try {
        results.push(await issueOne(item));
      } catch(error) {
        results.push({ok: false, error: messages(error).join('; ')});
      }
    } else if(command === 'verify') {
      results.push(await verifyOne(item));
    } else {
      throw new Error(`usage: node di.mjs issue|verify < items.json (got ${command})`);
    }
  }
  process.stdout.write(JSON.stringify({contexts: CONTEXT_FILES, results, fetched}) + '\n');
}

await main();
