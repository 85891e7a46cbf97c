// The reference Parley is measured against: Express + ws, the way such a chat
// backend is usually written, with the subset of API.md that bench/run's
// scenarios use (signup/login with JWT, conversations, messages with seq,
// WebSocket message.send -> message.ack / message.new). Storage is in memory.
'use strict';

const crypto = require('crypto');
const http = require('http');
const url = require('url');
const express = require('express');
const jwt = require('jsonwebtoken');
const { WebSocketServer } = require('ws');

const PORT = Number(process.env.PORT || 8090);
const HOST = process.env.HOST || '127.0.0.1';
const JWT_SECRET = process.env.JWT_SECRET || crypto.randomBytes(32).toString('hex');
// scrypt cost: the benchmark lowers it (as it lowers Parley's Argon2id) so that
// signing up thousands of users is quick; logins are not what is measured here.
const SCRYPT_N = Number(process.env.SCRYPT_N || 16384);

const users = new Map();          // id -> user
const usersByEmail = new Map();   // email -> user
const conversations = new Map();  // id -> conversation
const userConversations = new Map(); // user id -> Set of conversation ids
const sockets = new Map();        // user id -> Set of WebSocket

const newId = () => crypto.randomBytes(12).toString('hex');
const now = () => new Date().toISOString();

function apiError(res, status, code, message, field) {
  const error = { code, message };
  if (field) error.field = field;
  res.status(status).json({ error });
}

function publicUser(u) {
  return { id: u.id, name: u.name, avatar_url: null, status: sockets.has(u.id) ? 'online' : 'offline', created_at: u.created_at };
}

function session(u) {
  const access_token = jwt.sign({ sub: u.id }, JWT_SECRET, { algorithm: 'HS256', expiresIn: 900 });
  return { user: { ...publicUser(u), email: u.email }, access_token, refresh_token: newId(), token_type: 'Bearer', expires_in: 900 };
}

function hashPassword(password, salt) {
  return new Promise((resolve, reject) =>
    crypto.scrypt(password, salt, 32, { N: SCRYPT_N }, (err, key) => (err ? reject(err) : resolve(key))));
}

function authenticate(req, res, next) {
  const m = /^Bearer (.+)$/.exec(req.get('authorization') || '');
  try {
    const claims = jwt.verify(m ? m[1] : '', JWT_SECRET, { algorithms: ['HS256'] });
    req.user = users.get(claims.sub);
    if (!req.user) throw new Error('no such user');
    next();
  } catch (e) {
    apiError(res, 401, 'unauthorized', 'missing or invalid token');
  }
}

function conversationView(c, userId) {
  const read = c.readMarkers.get(userId) || 0;
  return {
    id: c.id, type: c.type, name: c.name,
    participants: c.participants.map((p) => ({ id: p.id, name: users.get(p.id).name, role: p.role })),
    last_seq: c.messages.length,
    last_message: c.messages.length ? c.messages[c.messages.length - 1] : null,
    unread_count: c.messages.length - read,
    created_at: c.created_at, updated_at: c.updated_at,
  };
}

function memberOf(c, userId) {
  return c && c.participants.some((p) => p.id === userId);
}

function sendToUser(userId, frame, except) {
  const set = sockets.get(userId);
  if (!set) return;
  for (const ws of set) if (ws !== except && ws.readyState === ws.OPEN) ws.send(frame);
}

// Stores a message and delivers it to every session of every participant; the
// sending session (if any) gets message.ack instead. Idempotent on client_id.
function postMessage(c, senderId, text, clientId, senderWs) {
  if (clientId) {
    const prior = c.messages.find((m) => m.client_id === clientId && m.sender_id === senderId);
    if (prior) return { message: prior, created: false };
  }
  const message = {
    id: newId(), conversation_id: c.id, seq: c.messages.length + 1, sender_id: senderId, text,
    client_id: clientId || null, source: 'web', created_at: now(), edited_at: null, deleted: false,
    reactions: [], attachments: [],
  };
  c.messages.push(message);
  c.updated_at = message.created_at;
  transport.deliver(c, message, senderWs);
  return { message, created: true };
}

// How message.new reaches the participants' sessions: ws here, Socket.io's
// events when server-socketio.js replaces it.
const transport = {
  deliver(c, message, senderWs) {
    const frame = JSON.stringify({ type: 'message.new', message });
    for (const p of c.participants) sendToUser(p.id, frame, senderWs);
  },
};

const app = express();
app.use(express.json({ limit: '1mb' }));

app.get('/healthz', (req, res) => res.json({ status: 'ok' }));

app.post('/api/auth/signup', async (req, res) => {
  const { email, password, name } = req.body || {};
  if (typeof email !== 'string' || !email.includes('@')) return apiError(res, 400, 'validation_failed', 'bad email', 'email');
  if (typeof password !== 'string' || password.length < 8) return apiError(res, 400, 'validation_failed', 'bad password', 'password');
  if (typeof name !== 'string' || !name.length) return apiError(res, 400, 'validation_failed', 'bad name', 'name');
  const key = email.trim().toLowerCase();
  if (usersByEmail.has(key)) return apiError(res, 409, 'email_taken', 'email taken');
  const salt = crypto.randomBytes(16);
  const hash = await hashPassword(password, salt);
  const u = { id: newId(), email: key, name, salt, hash, created_at: now() };
  users.set(u.id, u);
  usersByEmail.set(key, u);
  userConversations.set(u.id, new Set());
  res.status(201).json(session(u));
});

app.post('/api/auth/login', async (req, res) => {
  const { email, password } = req.body || {};
  const u = typeof email === 'string' ? usersByEmail.get(email.trim().toLowerCase()) : undefined;
  if (!u || typeof password !== 'string') return apiError(res, 401, 'invalid_credentials', 'wrong email or password');
  const hash = await hashPassword(password, u.salt);
  if (!crypto.timingSafeEqual(hash, u.hash)) return apiError(res, 401, 'invalid_credentials', 'wrong email or password');
  res.json(session(u));
});

app.get('/api/auth/me', authenticate, (req, res) => res.json({ user: { ...publicUser(req.user), email: req.user.email } }));

app.post('/api/conversations', authenticate, (req, res) => {
  const { type, name, participant_ids: ids } = req.body || {};
  if (type !== 'group') return apiError(res, 400, 'validation_failed', 'only groups here', 'type');
  if (!Array.isArray(ids) || ids.some((id) => !users.has(id))) return apiError(res, 400, 'validation_failed', 'bad participants', 'participant_ids');
  const members = [...new Set([req.user.id, ...ids])];
  const c = {
    id: newId(), type: 'group', name: String(name || ''), created_at: now(), updated_at: now(),
    participants: members.map((id) => ({ id, role: id === req.user.id ? 'admin' : 'member' })),
    messages: [], readMarkers: new Map(),
  };
  conversations.set(c.id, c);
  for (const id of members) userConversations.get(id).add(c.id);
  res.status(201).json({ conversation: conversationView(c, req.user.id) });
});

app.get('/api/conversations', authenticate, (req, res) => {
  const limit = Math.min(Number(req.query.limit) || 50, 200);
  const list = [...userConversations.get(req.user.id)].map((id) => conversations.get(id))
    .sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1))
    .slice(0, limit)
    .map((c) => conversationView(c, req.user.id));
  res.json({ conversations: list, next_cursor: null });
});

app.get('/api/conversations/:id', authenticate, (req, res) => {
  const c = conversations.get(req.params.id);
  if (!memberOf(c, req.user.id)) return apiError(res, 404, 'not_found', 'no such conversation');
  res.json({ conversation: conversationView(c, req.user.id) });
});

app.get('/api/conversations/:id/messages', authenticate, (req, res) => {
  const c = conversations.get(req.params.id);
  if (!memberOf(c, req.user.id)) return apiError(res, 404, 'not_found', 'no such conversation');
  const limit = Math.min(Number(req.query.limit) || 50, 200);
  let list = c.messages;
  if (req.query.after_seq) list = list.filter((m) => m.seq > Number(req.query.after_seq)).slice(0, limit + 1);
  else {
    if (req.query.before_seq) list = list.filter((m) => m.seq < Number(req.query.before_seq));
    list = list.slice(-(limit + 1));
  }
  const has_more = list.length > limit;
  const messages = req.query.after_seq ? list.slice(0, limit) : list.slice(-limit);
  res.json({ messages, has_more });
});

app.post('/api/conversations/:id/messages', authenticate, (req, res) => {
  const c = conversations.get(req.params.id);
  if (!memberOf(c, req.user.id)) return apiError(res, 404, 'not_found', 'no such conversation');
  const { text, client_id } = req.body || {};
  if (typeof text !== 'string' || !text.length || text.length > 4000) return apiError(res, 400, 'validation_failed', 'bad text', 'text');
  const { message, created } = postMessage(c, req.user.id, text, client_id);
  res.status(created ? 201 : 200).json({ message });
});

app.use((req, res) => apiError(res, 404, 'not_found', 'no such route'));

const server = http.createServer(app);
module.exports = { server, users, conversations, sockets, transport, postMessage, memberOf, newId, JWT_SECRET, PORT, HOST };
// server-socketio.js requires this file and serves its own WebSocket transport.
if (require.main === module) startWs();

function startWs() {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

  server.on('upgrade', (req, socket, head) => {
    const { pathname, query } = url.parse(req.url, true);
    let claims;
    try {
      if (pathname !== '/ws') throw new Error('not here');
      claims = jwt.verify(String(query.token || ''), JWT_SECRET, { algorithms: ['HS256'] });
      if (!users.has(claims.sub)) throw new Error('no such user');
    } catch (e) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, claims.sub));
  });

  wss.on('connection', (ws, userId) => {
    if (!sockets.has(userId)) sockets.set(userId, new Set());
    sockets.get(userId).add(ws);
    const sessionId = newId();
    ws.send(JSON.stringify({ type: 'ready', user_id: userId, session_id: sessionId }));

    ws.on('message', (data, isBinary) => {
      if (isBinary) return ws.close(1003);
      let frame;
      try {
        frame = JSON.parse(data);
      } catch (e) {
        return ws.send(JSON.stringify({ type: 'error', code: 'invalid_json', message: 'invalid JSON', ref: null }));
      }
      if (frame.type === 'ping') return ws.send(JSON.stringify({ type: 'pong' }));
      if (frame.type !== 'message.send') {
        return ws.send(JSON.stringify({ type: 'error', code: 'validation_failed', message: 'unknown type', ref: frame.client_id || null }));
      }
      const c = conversations.get(frame.conversation_id);
      if (!memberOf(c, userId) || typeof frame.text !== 'string' || !frame.text.length) {
        return ws.send(JSON.stringify({ type: 'error', code: 'not_found', message: 'no such conversation', ref: frame.client_id || null }));
      }
      const { message } = postMessage(c, userId, frame.text, frame.client_id, ws);
      ws.send(JSON.stringify({ type: 'message.ack', client_id: frame.client_id || null, message }));
    });

    ws.on('close', () => {
      const set = sockets.get(userId);
      set.delete(ws);
      if (!set.size) sockets.delete(userId);
    });
  });

  server.keepAliveTimeout = 60000;
  server.listen(PORT, HOST, () => console.log(`reference listening on ${HOST}:${PORT}`));
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
