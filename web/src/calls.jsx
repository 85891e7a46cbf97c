// Voice and video calls (docs/API.md, Calls): the call buttons of a direct conversation,
// the incoming-call banner (accept, with video or audio only, and decline), and the call
// itself, an RTCPeerConnection whose ICE servers are the TURN credentials the server
// hands out. Signalling goes through the SDK's call frames; the media go peer to peer
// (or through TURN). A video call shows the other side large and this side's camera
// small; `call.media` tells the other side when a microphone or camera goes off, and a
// video call becomes an audio call by renegotiating its video inactive.
import { useEffect, useRef, useState } from 'preact/hooks';
import { client } from './client.js';
import { store } from './store.js';
import { Avatar } from './inbox.jsx';

// One call at a time: its state lives here, outside any screen.
// {id, conv, peer, peerId, role: 'caller'|'callee', status, media: 'audio'|'video',
//  video (this side shows video), mic, camera (this side sends them), peerMic, peerVideo,
//  mediaSeq, peerSeq (call.media's, sent and received), pc, stream (local),
//  remote (MediaStream), since (connected at, ms), notice, error}
let current = null;
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
  current = { id: current.id, peer: current.peer, status, ended: true, error: current.error };
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

const CAMERA = { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' };

function cameraProblem(e) {
  const name = e && e.name;
  const why = name === 'NotAllowedError' || name === 'SecurityError' ? 'Camera access was denied'
    : name === 'NotFoundError' || name === 'OverconstrainedError' ? 'No camera was found'
      : name === 'NotReadableError' || name === 'AbortError' ? 'The camera is in use by another app'
        : 'The camera could not be opened';
  return `${why}: you are sending audio only.`;
}

// The microphone, and the camera when this side is on video. A camera that cannot be
// opened leaves the microphone alone, with the reason as a notice; a microphone that
// cannot be opened throws (the call cannot go on).
async function getMedia(video) {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) throw new Error('This browser cannot make calls here (it needs HTTPS).');
  if (video) {
    try {
      return { stream: await md.getUserMedia({ audio: true, video: CAMERA }), camera: true };
    } catch (e) {
      return { stream: await md.getUserMedia({ audio: true }), camera: false, notice: cameraProblem(e) };
    }
  }
  return { stream: await md.getUserMedia({ audio: true }), camera: false };
}

function micProblem(e) {
  const name = e && e.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'Microphone access was denied.';
  if (name === 'NotFoundError') return 'No microphone was found.';
  return String(e && e.message || e);
}

/** This side's microphone and camera, told to the other side (call.media). */
function sendMedia() {
  if (current && current.id && !current.ended) {
    const seq = (current.mediaSeq || 0) + 1;
    set({ mediaSeq: seq });
    client.callFrame({ type: 'call.media', call_id: current.id, audio: current.mic, video: current.camera, seq });
  }
}

const isVideo = (tr) => tr.receiver.track && tr.receiver.track.kind === 'video';

// The call ended (or another took its place) while this side waited for the TURN
// credentials or the devices: what was opened for it is closed.
function stale(id, pc, stream) {
  if (current && !current.ended && current.id === id) return false;
  pc.close();
  if (stream) for (const t of stream.getTracks()) t.stop();
  return true;
}

async function peerConnection() {
  const id = current.id;
  const pc = new RTCPeerConnection({ iceServers: await iceServers() });
  if (stale(id, pc)) throw new Error('the call ended');
  if (!current.stream) {
    const got = await getMedia(current.video);
    if (stale(id, pc, got.stream)) throw new Error('the call ended');
    set({ stream: got.stream, camera: got.camera, notice: got.notice || current.notice });
  }
  const stream = current.stream;
  for (const t of stream.getTracks()) pc.addTrack(t, stream);
  // A video caller without a camera still sees the callee.
  if (current.role === 'caller' && current.video && !stream.getVideoTracks().length) {
    pc.addTransceiver('video', { direction: 'recvonly' });
  }
  pc.onicecandidate = (e) => {
    if (current) client.callFrame({ type: 'call.ice', call_id: current.id, candidate: e.candidate ? e.candidate.toJSON() : null });
  };
  pc.onconnectionstatechange = () => {
    if (!current || current.pc !== pc) return;
    if (pc.connectionState === 'connected') set({ status: 'connected', since: current.since || Date.now() });
    if (pc.connectionState === 'failed') hangUp();
  };
  pc.ontrack = (e) => {
    if (current && current.pc === pc) set({ remote: e.streams[0] || new MediaStream([e.track]) });
  };
  set({ pc });
  if (current.media === 'video') sendMedia();
  return pc;
}

// After each offer and answer: a video call whose video the other side did not take
// (an audio-only answer, or a switch to audio only) goes on as an audio call here too.
function afterNegotiation() {
  if (!current || !current.pc || !current.video) return;
  const live = current.pc.getTransceivers().some((tr) => isVideo(tr) && tr.currentDirection && tr.currentDirection !== 'inactive');
  const who = current.peer || 'The other side';
  if (!live) dropVideo(current.status === 'connected' ? `${who} switched to audio only.` : `${who} took the call with audio only.`);
}

// Stops the camera for the rest of the call, and the video both ways.
function dropVideo(notice) {
  const c = current;
  if (c.stream) for (const t of c.stream.getVideoTracks()) { t.stop(); c.stream.removeTrack(t); }
  if (c.pc) {
    for (const tr of c.pc.getTransceivers()) {
      if (!isVideo(tr) || tr.currentDirection === 'stopped') continue;
      tr.sender.replaceTrack(null).catch(() => {});
      tr.direction = 'inactive';
    }
  }
  set({ video: false, camera: false, notice });
}

export async function startCall(conv, media = 'audio') {
  if (current && !current.ended) return;
  const peer = store.peer(conv);
  const video = media === 'video';
  const token = {};
  current = {
    token, conv: conv.id, peer: peer ? peer.name : '', peerId: peer ? peer.id : '', role: 'caller', status: 'calling',
    media, video, mic: true, camera: false, peerMic: true, peerVideo: video,
  };
  notify();
  // The microphone and camera first: the caller sees their own picture while it rings,
  // and a call that could not be heard is not placed.
  let got;
  try {
    got = await getMedia(video);
  } catch (e) {
    if (current && current.token === token) { set({ error: micProblem(e) }); end('failed'); }
    return;
  }
  if (!current || current.token !== token || current.ended) {
    for (const t of got.stream.getTracks()) t.stop();
    return;
  }
  set({ stream: got.stream, camera: got.camera, notice: got.notice });
  if (!client.callFrame({ type: 'call.invite', conversation_id: conv.id, media })) end('offline');
}

export function hangUp() {
  if (!current || current.ended) return;
  if (current.id) client.callFrame({ type: 'call.hangup', call_id: current.id });
  end('ended');
}

async function accept(withVideo) {
  if (!current || current.role !== 'callee' || current.status !== 'incoming') return;
  client.callFrame({ type: 'call.accept', call_id: current.id });
  set({ status: 'connecting', video: current.media === 'video' && withVideo });
  try {
    await peerConnection();
    // An offer that came while the microphone and TURN credentials were fetched.
    if (current && current.offer) await answer(current.offer);
  } catch (e) {
    if (current && !current.ended) { set({ error: micProblem(e) }); hangUp(); }
  }
}

function toggleMic() {
  const t = current && current.stream && current.stream.getAudioTracks()[0];
  if (!t) return;
  t.enabled = !current.mic;
  set({ mic: t.enabled });
  sendMedia();
}

function toggleCamera() {
  const t = current && current.stream && current.stream.getVideoTracks()[0];
  if (!t) return;
  t.enabled = !current.camera;
  set({ camera: t.enabled });
  sendMedia();
}

/** Turns a video call into an audio call, both ways: the video is renegotiated inactive. */
async function switchToAudio() {
  if (!current || !current.video) return;
  dropVideo('');
  sendMedia();
  const pc = current.pc;
  if (!pc || !pc.remoteDescription) return; // the offer still to come goes without video
  try {
    await pc.setLocalDescription(await pc.createOffer());
    client.callFrame({ type: 'call.offer', call_id: current.id, sdp: pc.localDescription.sdp });
  } catch {
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
  // Both sides offered at once (each switched to audio only): the callee gives way.
  if (pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' });
  await remoteDescription({ type: 'offer', sdp });
  // Taken audio only: the caller's video is not received either.
  if (!current.video) for (const tr of pc.getTransceivers()) if (isVideo(tr)) tr.direction = 'inactive';
  await pc.setLocalDescription(await pc.createAnswer());
  client.callFrame({ type: 'call.answer', call_id: current.id, sdp: pc.localDescription.sdp });
  afterNegotiation();
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
    const media = f.media === 'video' ? 'video' : 'audio';
    current = {
      id: f.call_id, conv: f.conversation_id, peer: store.userName(f.from), peerId: f.from, role: 'callee',
      status: 'incoming', media, video: false, mic: true, camera: false, peerMic: true, peerVideo: media === 'video',
    };
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
      if (current && !current.ended) { set({ error: micProblem(e) }); hangUp(); }
    }
  });
  client.on('call.offer', (f) => {
    if (!mine(f)) return;
    const pc = current.pc;
    if (!pc) { set({ offer: f.sdp }); return; } // answered once the connection exists (accept)
    // Both sides offered at once: the caller's offer stands, the callee answers it.
    if (pc.signalingState === 'have-local-offer' && current.role === 'caller') return;
    answer(f.sdp).catch(() => hangUp());
  });
  client.on('call.answer', (f) => {
    if (mine(f) && current.pc) remoteDescription({ type: 'answer', sdp: f.sdp }).then(afterNegotiation, () => hangUp());
  });
  client.on('call.ice', (f) => {
    if (!mine(f) || !f.candidate) return;
    const pc = current.pc;
    if (pc && pc.remoteDescription) pc.addIceCandidate(f.candidate).catch(() => {});
    else set({ candidates: [...(current.candidates || []), f.candidate] });
  });
  // Frames of one call may cross on their way (see API.md): the highest seq stands.
  client.on('call.media', (f) => {
    if (!mine(f) || (typeof f.seq === 'number' && f.seq <= (current.peerSeq || 0))) return;
    set({ peerMic: f.audio !== false, peerVideo: f.video !== false, peerSeq: typeof f.seq === 'number' ? f.seq : current.peerSeq });
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
  failed: 'Call failed',
};

function statusText(c) {
  if (c.status === 'incoming' && c.media === 'video') return 'is video calling you';
  return LABEL[c.status] || c.status;
}

/** A media element showing stream (set as srcObject, which no attribute can carry). */
function Media({ kind, stream, ...rest }) {
  const el = useRef(null);
  useEffect(() => { if (el.current && el.current.srcObject !== stream) el.current.srcObject = stream || null; }, [stream]);
  if (kind === 'audio') return <audio ref={el} autoplay {...rest} />;
  return <video ref={el} autoplay playsinline muted {...rest} />;
}

/** Minutes and seconds since `since`, ticking. */
function Timer({ since }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const s = Math.max(0, Math.floor((now - since) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, ss = String(s % 60).padStart(2, '0');
  return <span class="call-timer" data-test="call-timer">{h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`}</span>;
}

function Status({ c }) {
  if (c.status === 'connected' && c.since) return <Timer since={c.since} />;
  return <span class="call-status" data-test="call-status">{statusText(c)}</span>;
}

function MicButton({ c }) {
  return (
    <button onClick={toggleMic} aria-pressed={c.mic ? 'false' : 'true'} disabled={!c.stream} data-test="call-mic">
      {c.mic ? 'Mute' : 'Unmute'}
    </button>
  );
}

/** A video call: the other side large (their avatar while their camera is off), this
 * side's camera small and mirrored, and the controls. */
function VideoCall({ c }) {
  const me = store.me || {};
  const remoteOn = c.peerVideo && !!c.remote && c.status === 'connected';
  const camera = c.stream && c.stream.getVideoTracks().length > 0;
  // The window is the call's now: keys go to its buttons, not to the chat behind it.
  const root = useRef(null);
  useEffect(() => { if (root.current && !root.current.contains(document.activeElement)) root.current.focus(); }, []);
  return (
    <div class="call-video" role="dialog" aria-modal="true" aria-label={`Video call with ${c.peer}`} data-test="call-bar"
      data-status={c.status} data-view="video" ref={root} tabindex="-1">
      <div class="call-stage">
        <Media kind="video" stream={c.remote} class={`call-remote-video${remoteOn ? '' : ' hidden'}`}
          data-test="call-remote-video" aria-label={`${c.peer}'s camera`} />
        {!remoteOn && (
          <div class="call-remote-avatar" data-test="call-remote-avatar">
            <Avatar name={c.peer} id={c.conv} pic={store.userPic(c.peerId)} size="huge" />
            {c.status === 'connected' && <span>{c.peer}'s camera is off</span>}
          </div>
        )}
      </div>
      <div class="call-top">
        <span class="call-peer">{c.peer}</span>
        <Status c={c} />
        {!c.peerMic && <span class="call-flag" data-test="call-peer-muted">{c.peer} muted</span>}
      </div>
      <div class={`call-local${c.camera ? '' : ' off'}`} data-test="call-local" data-camera={c.camera ? 'on' : 'off'}>
        <Media kind="video" stream={c.stream} class={`mirrored${c.camera ? '' : ' hidden'}`} data-test="call-local-video"
          aria-label="Your camera" />
        {!c.camera && <Avatar name={me.name || 'You'} id={me.id} pic={store.userPic(me.id)} />}
      </div>
      {(c.notice || c.error) && (
        <div class="call-notice" role="status" data-test={c.error ? 'call-error' : 'call-notice'}>{c.error || c.notice}</div>
      )}
      <div class="call-controls">
        <MicButton c={c} />
        <button onClick={toggleCamera} aria-pressed={!camera ? undefined : c.camera ? 'false' : 'true'} disabled={!camera} data-test="call-camera">
          {!camera ? 'No camera' : c.camera ? 'Camera off' : 'Camera on'}
        </button>
        <button onClick={switchToAudio} data-test="call-audio-only">Audio only</button>
        <button class="danger" onClick={hangUp} data-test="call-hangup">Hang up</button>
      </div>
    </div>
  );
}

/** The call bar: an incoming call's accept and decline, an audio call in progress; a
 * video call in progress fills the window (VideoCall). */
export function CallBar() {
  const c = useCall();
  if (!c) return null;
  const incoming = c.status === 'incoming';
  return (
    <>
      <Media kind="audio" stream={c.remote} id="call-audio" />
      {c.video && !c.ended && !incoming ? <VideoCall c={c} /> : (
        <div class={`call-bar ${c.status}`} role={incoming ? 'alertdialog' : 'status'} data-test="call-bar"
          data-status={c.status} data-view="bar" data-media={c.media}>
          {incoming && <Avatar name={c.peer} id={c.conv} pic={store.userPic(c.peerId)} />}
          <span class="call-who">
            <span class="call-peer">{c.peer}</span> <Status c={c} />
          </span>
          {!c.ended && !incoming && !c.peerMic && <span class="call-flag" data-test="call-peer-muted">{c.peer} muted</span>}
          {(c.error || c.notice) && <span class={c.error ? 'error' : 'call-note'} data-test={c.error ? 'call-error' : 'call-notice'}>{c.error || c.notice}</span>}
          <span class="call-actions">
            {incoming && c.media === 'video' && (
              <>
                <button class="primary" onClick={() => accept(true)} data-test="call-accept-video">Accept with video</button>
                <button onClick={() => accept(false)} data-test="call-accept-audio">Audio only</button>
                <button class="danger" onClick={reject} data-test="call-reject">Decline</button>
              </>
            )}
            {incoming && c.media !== 'video' && (
              <>
                <button class="primary" onClick={() => accept(false)} data-test="call-accept">Accept</button>
                <button class="danger" onClick={reject} data-test="call-reject">Decline</button>
              </>
            )}
            {!c.ended && !incoming && <MicButton c={c} />}
            {!c.ended && !incoming && <button class="danger" onClick={hangUp} data-test="call-hangup">Hang up</button>}
          </span>
        </div>
      )}
    </>
  );
}

function PhoneIcon() {
  return (
    <svg class="call-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
      <path fill="currentColor" d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1z" />
    </svg>
  );
}

function CameraIcon() {
  return (
    <svg class="call-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
      <rect x="2" y="6" width="13" height="12" rx="2" fill="currentColor" />
      <path fill="currentColor" d="M16.5 10.5 22 7v10l-5.5-3.5z" />
    </svg>
  );
}

/** The call buttons of a direct conversation's header: voice and video (icons alone
 * on a phone's width). */
export function CallButton({ conv }) {
  const c = useCall();
  const busy = !!(c && !c.ended);
  return (
    <>
      <button class="call-start" onClick={() => startCall(conv, 'audio')} disabled={busy} data-test="call-button"
        aria-label="Voice call" title="Voice call">
        <PhoneIcon /><span class="call-start-label">Call</span>
      </button>
      <button class="call-start" onClick={() => startCall(conv, 'video')} disabled={busy} data-test="video-call-button"
        aria-label="Video call" title="Video call">
        <CameraIcon /><span class="call-start-label">Video</span>
      </button>
    </>
  );
}

wireCalls();
