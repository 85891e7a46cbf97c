// Voice calls (docs/API.md, Calls): the call button of a direct conversation, the
// incoming-call banner with accept and reject, and the call itself, an RTCPeerConnection
// whose ICE servers are the TURN credentials the server hands out. Signalling goes
// through the SDK's call frames; the media go peer to peer (or through TURN).
import { useEffect, useState } from 'preact/hooks';
import { client } from './client.js';
import { store } from './store.js';

// One call at a time: its state lives here, outside any screen.
let current = null; // {id, conv, peer, role: 'caller'|'callee', status, pc, stream, error}
const listeners = new Set();
const notify = () => { for (const fn of listeners) fn(current ? { ...current } : null); };

function set(fields) {
  current = current ? { ...current, ...fields } : null;
  notify();
}

function end(status) {
  if (!current) return;
  if (current.pc) current.pc.close();
  if (current.stream) for (const t of current.stream.getTracks()) t.stop();
  current = { id: current.id, peer: current.peer, status, ended: true };
  notify();
  setTimeout(() => { if (current && current.ended) { current = null; notify(); } }, 4000);
}

async function iceServers() {
  try {
    const t = await client.turnCredentials();
    return t.uris.length ? [{ urls: t.uris, username: t.username, credential: t.credential }] : [];
  } catch {
    return []; // no TURN server: direct paths only
  }
}

async function peerConnection() {
  const pc = new RTCPeerConnection({ iceServers: await iceServers() });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  for (const t of stream.getTracks()) pc.addTrack(t, stream);
  pc.onicecandidate = (e) => {
    if (current) client.callFrame({ type: 'call.ice', call_id: current.id, candidate: e.candidate ? e.candidate.toJSON() : null });
  };
  pc.onconnectionstatechange = () => {
    if (!current || current.pc !== pc) return;
    if (pc.connectionState === 'connected') set({ status: 'connected' });
    if (pc.connectionState === 'failed') hangUp();
  };
  pc.ontrack = (e) => {
    const audio = document.getElementById('call-audio');
    if (audio) audio.srcObject = e.streams[0];
  };
  set({ pc, stream });
  return pc;
}

export function startCall(conv) {
  if (current && !current.ended) return;
  const peer = store.peer(conv);
  current = { conv: conv.id, peer: peer ? peer.name : '', role: 'caller', status: 'calling' };
  notify();
  if (!client.callFrame({ type: 'call.invite', conversation_id: conv.id, media: 'audio' })) end('offline');
}

export function hangUp() {
  if (!current || current.ended) return;
  if (current.id) client.callFrame({ type: 'call.hangup', call_id: current.id });
  end('ended');
}

async function accept() {
  if (!current || current.role !== 'callee') return;
  client.callFrame({ type: 'call.accept', call_id: current.id });
  set({ status: 'connecting' });
  try {
    await peerConnection();
    // An offer that came while the microphone and TURN credentials were fetched.
    if (current && current.offer) await answer(current.offer);
  } catch (e) {
    set({ error: String(e && e.message || e) });
    hangUp();
  }
}

// Candidates wait until the remote description is set (they cannot be added before).
async function remoteDescription(desc) {
  const pc = current.pc;
  await pc.setRemoteDescription(desc);
  for (const c of current.candidates || []) pc.addIceCandidate(c).catch(() => {});
  set({ candidates: [] });
}

async function answer(sdp) {
  const pc = current.pc;
  await remoteDescription({ type: 'offer', sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  client.callFrame({ type: 'call.answer', call_id: current.id, sdp: pc.localDescription.sdp });
}

function reject() {
  if (!current) return;
  client.callFrame({ type: 'call.reject', call_id: current.id });
  end('declined');
}

let mySession = null; // this tab's WebSocket session (call.accept names the one that took it)
let wired = false;
/** Listens to the call frames once for the app's lifetime. */
export function wireCalls() {
  if (wired) return;
  wired = true;
  client.on('ready', (f) => { mySession = f.session_id; });
  const mine = (f) => current && !current.ended && f.call_id === current.id;
  client.on('call.created', (f) => { if (current && !current.id) set({ id: f.call_id, status: 'ringing' }); });
  client.on('call.busy', (f) => { if (current && (!current.id || f.call_id === current.id)) end('busy'); });
  client.on('call.invite', (f) => {
    if (current && !current.ended) return; // busy here: the server already judged the rest
    current = { id: f.call_id, conv: f.conversation_id, peer: store.userName(f.from), role: 'callee', status: 'incoming' };
    notify();
    client.callFrame({ type: 'call.ringing', call_id: f.call_id });
  });
  client.on('call.accept', async (f) => {
    if (!mine(f)) return;
    if (current.role === 'callee') {
      // Taken on another of this user's sessions: stop ringing here.
      if (f.session_id !== mySession && !current.pc) end('answered elsewhere');
      return;
    }
    set({ status: 'connecting' });
    try {
      const pc = await peerConnection();
      await pc.setLocalDescription(await pc.createOffer());
      client.callFrame({ type: 'call.offer', call_id: current.id, sdp: pc.localDescription.sdp });
    } catch (e) {
      set({ error: String(e && e.message || e) });
      hangUp();
    }
  });
  client.on('call.offer', (f) => {
    if (!mine(f)) return;
    if (current.pc) answer(f.sdp).catch(() => hangUp());
    else set({ offer: f.sdp }); // answered once the connection exists (accept)
  });
  client.on('call.answer', (f) => {
    if (mine(f) && current.pc) remoteDescription({ type: 'answer', sdp: f.sdp }).catch(() => hangUp());
  });
  client.on('call.ice', (f) => {
    if (!mine(f) || !f.candidate) return;
    const pc = current.pc;
    if (pc && pc.remoteDescription) pc.addIceCandidate(f.candidate).catch(() => {});
    else set({ candidates: [...(current.candidates || []), f.candidate] });
  });
  client.on('call.reject', (f) => { if (mine(f)) end('declined'); });
  // reason: timeout (nobody answered), lost (the caller's server stopped),
  // disconnected (the other side's session closed mid-call).
  const HANGUP = { timeout: 'missed', lost: 'dropped', disconnected: 'dropped' };
  client.on('call.hangup', (f) => { if (mine(f)) end(HANGUP[f.reason] || 'ended'); });
}

function useCall() {
  const [c, setC] = useState(current);
  useEffect(() => { listeners.add(setC); return () => listeners.delete(setC); }, []);
  return c;
}

const LABEL = {
  calling: 'Calling…', ringing: 'Ringing…', incoming: 'is calling you', connecting: 'Connecting…',
  connected: 'In call', ended: 'Call ended', declined: 'Call declined', busy: 'Busy', missed: 'No answer',
  dropped: 'Call dropped: the connection was lost', offline: 'Not connected', 'answered elsewhere': 'Answered on another device',
};

/** The call bar: an incoming call's accept and reject, or the call in progress. */
export function CallBar() {
  const c = useCall();
  if (!c) return null;
  return (
    <div class={`call-bar ${c.status}`} role={c.status === 'incoming' ? 'alertdialog' : 'status'} data-test="call-bar" data-status={c.status}>
      <span class="call-peer">{c.peer}</span>
      <span class="call-status" data-test="call-status">{LABEL[c.status] || c.status}</span>
      {c.error && <span class="error" data-test="call-error">{c.error}</span>}
      {c.status === 'incoming' && (
        <>
          <button class="primary" onClick={accept} data-test="call-accept">Accept</button>
          <button onClick={reject} data-test="call-reject">Reject</button>
        </>
      )}
      {!c.ended && c.status !== 'incoming' && <button class="danger" onClick={hangUp} data-test="call-hangup">Hang up</button>}
      <audio id="call-audio" autoplay />
    </div>
  );
}

/** The call button of a direct conversation's header. */
export function CallButton({ conv }) {
  const c = useCall();
  return (
    <button onClick={() => startCall(conv)} disabled={!!(c && !c.ended)} data-test="call-button" aria-label="Voice call">
      Call
    </button>
  );
}

wireCalls();
