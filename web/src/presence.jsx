// How a user's presence is shown: the dot on an avatar (online, away, do not disturb,
// offline) and the words beside a name ("away", "last seen 5 min ago").
import { ago } from './format.js';

const LABELS = { online: 'online', away: 'away', dnd: 'do not disturb', offline: 'offline' };

/** The words for a status; offline says when the user was last seen, if known. */
export function presenceText(status, lastSeen) {
  if (status === 'offline' && lastSeen) return `last seen ${ago(lastSeen)}`;
  return LABELS[status] || '';
}

/** The dot on an avatar; nothing while the status is unknown. */
export function PresenceDot({ status }) {
  if (!LABELS[status]) return null;
  return <span class={`dot dot-${status}`} data-test="presence-dot" data-status={status} />;
}
