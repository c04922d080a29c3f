// A real OpenID Connect provider (panva's `oidc-provider`) for hoop's
// end-to-end tests. See README.md in this directory.
//
//   node provider.mjs --cert CERT.pem --key KEY.pem [--port 0]
//
// Serves HTTPS on 127.0.0.1:<port> with issuer https://localhost:<port>, prints
// one JSON line {"issuer":...,"port":...} once listening, and exits when its
// stdin closes or on SIGTERM/SIGINT.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    port: { type: 'string', default: '0' },
  },
  strict: true,
});

if (!args.cert || !args.key) {
  process.stderr.write('usage: node provider.mjs --cert CERT.pem --key KEY.pem [--port 0]\n');
  process.exit(2);
}

const port = Number.parseInt(args.port, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`provider.mjs: bad --port ${args.port}\n`);
  process.exit(2);
}

// --- exit conditions ------------------------------------------------------
// The tests spawn us with a piped stdin and simply drop it: end of stdin means
// "stop". Signals do the same.
function shutdown(code = 0) {
  process.exit(code);
}
process.stdin.on('end', () => shutdown(0));
process.stdin.on('close', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

// --- fixed test data ------------------------------------------------------

// Accounts for the authorization-code flow. Any password is accepted.
const ACCOUNTS = {
  alice: { email: 'alice@example.com', groups: ['dba', 'engineering'], name: 'Alice' },
  mallory: { email: 'mallory@evil.example', groups: ['contractors'], name: 'Mallory' },
};

// Extra claims put into the JWT access tokens of the client-credentials
// clients (the CI-job-like "agents"), keyed by client_id.
const AGENT_CLAIMS = {
  'agent-ci': { repository: 'acme/etl' },
  'other-tenant': { repository: 'evil/fork' },
};

const DEFAULT_RESOURCE = 'https://hoop.test';

const agentClient = (clientId, secret) => ({
  client_id: clientId,
  client_secret: secret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

const clients = [
  agentClient('agent-ci', 'agent-ci-secret-0123456789abcdef'),
  agentClient('other-tenant', 'other-tenant-secret-0123456789abcd'),
  {
    client_id: 'human-app',
    client_secret: 'human-app-secret-0123456789abcdef',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: ['https://localhost/callback'],
    scope: 'openid email profile groups',
    token_endpoint_auth_method: 'client_secret_basic',
  },
];

// --- signing key ----------------------------------------------------------
// A fresh RS256 key per run; published at jwks_uri.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateJwk = privateKey.export({ format: 'jwk' });
const kid = crypto.createHash('sha256')
  .update(JSON.stringify({ e: privateJwk.e, kty: privateJwk.kty, n: privateJwk.n }))
  .digest('base64url');
const jwks = { keys: [{ ...privateJwk, kid, alg: 'RS256', use: 'sig' }] };

// --- provider configuration -----------------------------------------------
function configuration() {
  return {
    clients,
    jwks,
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },

    // Claims per scope. With conformIdTokenClaims: false the claims of the
    // granted scopes go into the ID token itself, not only to userinfo.
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,
    scopes: ['openid', 'email', 'profile', 'groups'],

    async findAccount(_ctx, id) {
      const account = Object.hasOwn(ACCOUNTS, id) ? ACCOUNTS[id] : undefined;
      if (!account) return undefined;
      return {
        accountId: id,
        async claims(_use, _scope) {
          return {
            sub: id,
            email: account.email,
            email_verified: true,
            name: account.name,
            groups: account.groups,
          };
        },
      };
    },

    features: {
      // Replaced by the small login/consent pages below (interactionRoute):
      // same form shape, but unknown users are refused instead of a 500.
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Client credentials without a `resource` parameter get an access
        // token for hoop. Interactive logins without `resource` keep the
        // default (an opaque token for userinfo).
        async defaultResource(ctx, client, oneOf) {
          if (oneOf) return oneOf;
          if (client && Object.hasOwn(AGENT_CLAIMS, client.clientId)) return DEFAULT_RESOURCE;
          return undefined;
        },
        // Any resource indicator is accepted; its value is the audience.
        async getResourceServerInfo(_ctx, resourceIndicator, _client) {
          return {
            audience: resourceIndicator,
            scope: '',
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
        async useGrantedResource() {
          return true;
        },
      },
    },

    // RFC 9068 access tokens already carry sub (= client_id for client
    // credentials), client_id, iss, aud, exp, iat, jti. Add the tenant claims.
    async extraTokenClaims(_ctx, token) {
      if (token.kind === 'ClientCredentials' && Object.hasOwn(AGENT_CLAIMS, token.clientId)) {
        return { ...AGENT_CLAIMS[token.clientId] };
      }
      return undefined;
    },

    ttl: {
      ClientCredentials: 600,
      AccessToken: 600,
      IdToken: 600,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
  };
}

// --- interactions (login and consent pages) -------------------------------
// GET  /interaction/:uid  -> a login form (fields prompt=login, login, password)
//                            or a consent form (field prompt=consent)
// POST /interaction/:uid  -> finishes the step and redirects back to /auth
// Any password is accepted for a known account; an unknown one ends the
// authorization with error=access_denied at the client's redirect_uri.

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

function readForm(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

async function interactionRoute(provider, req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    sendHtml(res, 400, page('Error', '<p>interaction mismatch</p>'));
    return;
  }
  const { prompt, params, session, grantId } = details;
  const action = `/interaction/${encodeURIComponent(uid)}`;

  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      sendHtml(res, 200, page('Sign-in', `<form autocomplete="off" action="${action}" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="user name" value="${escapeHtml(params.login_hint || '')}"/>
  <input required type="password" name="password" placeholder="any password"/>
  <button type="submit">Sign-in</button>
</form>`));
    } else if (prompt.name === 'consent') {
      sendHtml(res, 200, page('Authorize', `<p>${escapeHtml(params.client_id)} asks for: ${escapeHtml(params.scope || '')}</p>
<form autocomplete="off" action="${action}" method="post">
  <input type="hidden" name="prompt" value="consent"/>
  <button type="submit">Continue</button>
</form>`));
    } else {
      sendHtml(res, 501, page('Error', `<p>prompt ${escapeHtml(prompt.name)} not implemented</p>`));
    }
    return;
  }

  if (req.method !== 'POST') {
    res.statusCode = 405;
    res.setHeader('Allow', 'GET, POST');
    res.end();
    return;
  }

  const form = await readForm(req);
  if (form.get('prompt') !== prompt.name) {
    sendHtml(res, 400, page('Error', `<p>expected prompt ${escapeHtml(prompt.name)}</p>`));
    return;
  }

  if (prompt.name === 'login') {
    const login = form.get('login') || '';
    if (!Object.hasOwn(ACCOUNTS, login) || !form.get('password')) {
      await provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'unknown user or empty password',
      }, { mergeWithLastSubmission: false });
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: login },
    }, { mergeWithLastSubmission: false });
    return;
  }

  if (prompt.name === 'consent') {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scope.join(' '));
      }
    }
    await provider.interactionFinished(req, res, {
      consent: { grantId: await grant.save() },
    }, { mergeWithLastSubmission: true });
    return;
  }

  sendHtml(res, 501, page('Error', `<p>prompt ${escapeHtml(prompt.name)} not implemented</p>`));
}

// --- serve ----------------------------------------------------------------
let callback = (_req, res) => {
  res.statusCode = 503;
  res.end('starting');
};

function withInteractions(provider) {
  const oidc = provider.callback();
  return (req, res) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(new URL(req.url, 'https://localhost').pathname);
    if (!m) {
      oidc(req, res);
      return;
    }
    interactionRoute(provider, req, res, m[1]).catch((err) => {
      process.stderr.write(`provider.mjs: interaction error: ${err.stack || err}\n`);
      if (!res.headersSent) {
        sendHtml(res, err.statusCode || err.status || 500, page('Error', `<p>${escapeHtml(err.message)}</p>`));
      } else {
        res.end();
      }
    });
  };
}

const server = https.createServer(
  { cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) },
  (req, res) => callback(req, res),
);

server.on('error', (err) => {
  process.stderr.write(`provider.mjs: ${err.stack || err}\n`);
  process.exit(1);
});

server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = `https://localhost:${actualPort}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`provider.mjs: server_error: ${err.stack || err}\n`);
  });
  callback = withInteractions(provider);
  process.stdout.write(`${JSON.stringify({ issuer, port: actualPort })}\n`);
});
