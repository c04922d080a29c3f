// Token flows against the provider of provider.mjs (or any OIDC provider
// whose login page it can drive). Prints the resulting token, one line.
//
//   node flows.mjs client-credentials --issuer URL --ca CA.pem --client-id ID --secret S [--resource URL] [--scope S]
//       -> prints the access token (a JWT)
//   node flows.mjs login --issuer URL --ca CA.pem --client-id ID --secret S --user NAME [--password P]
//                        [--redirect-uri URI] [--scope S]
//       -> runs the authorization-code flow like a browser, prints the ID token
//
// Only the CA in --ca is trusted. Errors go to stderr with exit code 1.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import { parseArgs } from 'node:util';

const USAGE = `usage:
  node flows.mjs client-credentials --issuer URL --ca CA.pem --client-id ID --secret S [--resource URL] [--scope S]
  node flows.mjs login --issuer URL --ca CA.pem --client-id ID --secret S --user NAME [--password P] [--redirect-uri URI] [--scope S]
`;

function fail(msg) {
  process.stderr.write(`flows.mjs: ${msg}\n`);
  process.exit(1);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      issuer: { type: 'string' },
      ca: { type: 'string' },
      'client-id': { type: 'string' },
      secret: { type: 'string' },
      resource: { type: 'string' },
      scope: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string', default: 'any-password' },
      'redirect-uri': { type: 'string', default: 'https://localhost/callback' },
    },
    strict: true,
  });
} catch (err) {
  process.stderr.write(`${err.message}\n${USAGE}`);
  process.exit(2);
}
const { values: opt, positionals } = parsed;
const command = positionals[0];
if (positionals.length !== 1 || !['client-credentials', 'login'].includes(command)) {
  process.stderr.write(USAGE);
  process.exit(2);
}
for (const name of ['issuer', 'ca', 'client-id', 'secret', ...(command === 'login' ? ['user'] : [])]) {
  if (!opt[name]) {
    process.stderr.write(`missing --${name}\n${USAGE}`);
    process.exit(2);
  }
}

const agent = new https.Agent({ ca: fs.readFileSync(opt.ca), keepAlive: false });

// Minimal HTTP(S) request with the given CA; never follows redirects.
function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== 'https:') {
      reject(new Error(`refusing non-https URL ${url}`));
      return;
    }
    const req = https.request(u, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode,
        headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function getJson(url) {
  const res = await request(url, { headers: { accept: 'application/json' } });
  if (res.status !== 200) fail(`GET ${url}: HTTP ${res.status}: ${res.body}`);
  return JSON.parse(res.body);
}

async function discover(issuer) {
  const base = issuer.replace(/\/+$/, '');
  const meta = await getJson(`${base}/.well-known/openid-configuration`);
  if (meta.issuer !== base && meta.issuer !== issuer) {
    fail(`discovery issuer ${meta.issuer} does not match ${issuer}`);
  }
  return meta;
}

function basicAuth(id, secret) {
  // RFC 6749 §2.3.1: form-urlencode id and secret before base64.
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function tokenRequest(meta, form) {
  const res = await request(meta.token_endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      authorization: basicAuth(opt['client-id'], opt.secret),
    },
    body: new URLSearchParams(form).toString(),
  });
  if (res.status !== 200) fail(`token endpoint: HTTP ${res.status}: ${res.body}`);
  return JSON.parse(res.body);
}

async function clientCredentials() {
  const meta = await discover(opt.issuer);
  const form = { grant_type: 'client_credentials', resource: opt.resource || 'https://hoop.test' };
  if (opt.scope) form.scope = opt.scope;
  const tokens = await tokenRequest(meta, form);
  if (!tokens.access_token) fail(`no access_token in ${JSON.stringify(tokens)}`);
  return tokens.access_token;
}

// --- browser emulation for the authorization-code flow --------------------

class CookieJar {
  constructor() { this.cookies = new Map(); } // name -> value (single host: the issuer)

  store(setCookie) {
    for (const line of setCookie || []) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v] = a.trim().split('=');
        if (/^max-age$/i.test(k)) return Number(v) <= 0;
        if (/^expires$/i.test(k)) return Date.parse(a.trim().slice(8)) <= Date.now();
        return false;
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|#39);/gi, (m, e) => {
    const l = e.toLowerCase();
    if (l === 'amp') return '&';
    if (l === 'lt') return '<';
    if (l === 'gt') return '>';
    if (l === 'quot') return '"';
    if (l === 'apos') return "'";
    if (l.startsWith('#x')) return String.fromCodePoint(parseInt(l.slice(2), 16));
    if (l.startsWith('#')) return String.fromCodePoint(parseInt(l.slice(1), 10));
    return m;
  });
}

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i'));
  if (!m) return undefined;
  return decodeEntities(m[2] ?? m[3] ?? m[4]);
}

// The first <form> of the page: its action, method and inputs.
function parseForm(html, pageUrl) {
  const formMatch = html.match(/<form\b[^>]*>([\s\S]*?)<\/form>/i);
  if (!formMatch) return undefined;
  const formTag = formMatch[0].match(/<form\b[^>]*>/i)[0];
  const fields = new Map();
  for (const input of formMatch[1].matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(input[0], 'name');
    if (name) fields.set(name, attr(input[0], 'value') ?? '');
  }
  return {
    action: new URL(attr(formTag, 'action') || pageUrl, pageUrl).href,
    method: (attr(formTag, 'method') || 'get').toUpperCase(),
    fields,
  };
}

async function login() {
  const meta = await discover(opt.issuer);
  const redirectUri = opt['redirect-uri'];
  const state = crypto.randomBytes(16).toString('base64url');
  const nonce = crypto.randomBytes(16).toString('base64url');
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');

  const auth = new URL(meta.authorization_endpoint);
  auth.search = new URLSearchParams({
    client_id: opt['client-id'],
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: opt.scope || 'openid email profile groups',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();

  const jar = new CookieJar();
  let method = 'GET';
  let url = auth.href;
  let body;
  let submittedLogin = false;
  let submittedConsent = false;

  for (let step = 0; step < 20; step += 1) {
    const headers = { accept: 'text/html' };
    const cookie = jar.header();
    if (cookie) headers.cookie = cookie;
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await request(url, { method, headers, body });
    jar.store(res.headers['set-cookie']);

    if (res.status >= 300 && res.status < 400 && res.headers.location) {
      const next = new URL(res.headers.location, url);
      const target = new URL(redirectUri);
      if (next.origin === target.origin && next.pathname === target.pathname) {
        // Arrived back at the client: take the code, do not fetch the URI.
        const params = next.searchParams;
        if (params.get('error')) fail(`authorization error: ${params.get('error')}: ${params.get('error_description') || ''}`);
        if (params.get('state') !== state) fail('state mismatch in redirect');
        if (params.get('iss') && params.get('iss') !== meta.issuer) fail('iss mismatch in redirect');
        const code = params.get('code');
        if (!code) fail(`no code in redirect ${next.href}`);
        const tokens = await tokenRequest(meta, {
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
        });
        if (!tokens.id_token) fail(`no id_token in ${JSON.stringify(tokens)}`);
        const payload = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString('utf8'));
        if (payload.nonce !== nonce) fail('nonce mismatch in ID token');
        return tokens.id_token;
      }
      method = 'GET';
      url = next.href;
      body = undefined;
      continue;
    }

    if (res.status !== 200) fail(`${method} ${url}: HTTP ${res.status}: ${res.body.slice(0, 2000)}`);
    const form = parseForm(res.body, url);
    if (!form) fail(`no form on page ${url}: ${res.body.slice(0, 2000)}`);

    const prompt = form.fields.get('prompt');
    if (form.fields.has('login') || form.fields.has('password') || prompt === 'login') {
      if (submittedLogin) fail(`login for ${opt.user} was not accepted`);
      submittedLogin = true;
      form.fields.set('login', opt.user);
      form.fields.set('password', opt.password);
    } else if (prompt === 'consent') {
      if (submittedConsent) fail('consent was not accepted');
      submittedConsent = true;
    } else {
      fail(`unexpected form on ${url}: ${JSON.stringify([...form.fields])}`);
    }

    const encoded = new URLSearchParams([...form.fields]).toString();
    if (form.method === 'POST') {
      method = 'POST';
      url = form.action;
      body = encoded;
    } else {
      const target = new URL(form.action);
      target.search = encoded;
      method = 'GET';
      url = target.href;
      body = undefined;
    }
  }
  fail('too many steps in the authorization flow');
  return undefined;
}

try {
  const token = command === 'login' ? await login() : await clientCredentials();
  process.stdout.write(`${token}\n`);
} catch (err) {
  fail(err.stack || String(err));
}
