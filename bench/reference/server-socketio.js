// The second reference: the same Express app and in-memory store as server.js,
// with Socket.io (4, WebSocket transport only) in place of ws, written the way
// Socket.io chat servers usually are: the token in the handshake's auth, one
// room per user, events named like API.md's frame types
// (emit('message.send', {...}) -> 'message.ack' / 'message.new', 'ready' first),
// and message.new broadcast once to the participants' rooms but the sender's socket.
'use strict';

const jwt = require('jsonwebtoken');
const { Server } = require('socket.io');
const ref = require('./server');

const io = new Server(ref.server, {
  serveClient: false,
  transports: ['websocket'],
  maxHttpBufferSize: 64 * 1024,
});

io.use((socket, next) => {
  try {
    const claims = jwt.verify(String((socket.handshake.auth || {}).token || ''), ref.JWT_SECRET, { algorithms: ['HS256'] });
    if (!ref.users.has(claims.sub)) throw new Error('no such user');
    socket.data.userId = claims.sub;
    next();
  } catch (e) {
    next(new Error('unauthorized'));
  }
});

ref.transport.deliver = (c, message, senderSocket) => {
  let to = io.to(c.participants.map((p) => `u:${p.id}`));
  if (senderSocket) to = to.except(senderSocket.id);
  to.emit('message.new', { type: 'message.new', message });
};

io.on('connection', (socket) => {
  const userId = socket.data.userId;
  if (!ref.sockets.has(userId)) ref.sockets.set(userId, new Set());
  ref.sockets.get(userId).add(socket);
  socket.join(`u:${userId}`);
  socket.emit('ready', { type: 'ready', user_id: userId, session_id: ref.newId() });

  socket.on('message.send', (frame) => {
    const ref_ = frame && frame.client_id ? frame.client_id : null;
    const c = frame && ref.conversations.get(frame.conversation_id);
    if (!ref.memberOf(c, userId) || typeof frame.text !== 'string' || !frame.text.length) {
      return socket.emit('error', { type: 'error', code: 'not_found', message: 'no such conversation', ref: ref_ });
    }
    const { message } = ref.postMessage(c, userId, frame.text, frame.client_id, socket);
    socket.emit('message.ack', { type: 'message.ack', client_id: ref_, message });
  });

  socket.on('disconnect', () => {
    const set = ref.sockets.get(userId);
    set.delete(socket);
    if (!set.size) ref.sockets.delete(userId);
  });
});

ref.server.keepAliveTimeout = 60000;
ref.server.listen(ref.PORT, ref.HOST, () => console.log(`reference (Socket.io) listening on ${ref.HOST}:${ref.PORT}`));
