// Formatting helpers shared by the screens: times, days, names and initials.

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const shortFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });

/** The local calendar day of an ISO timestamp, as a comparable key. */
export function dayKey(iso) {
  const d = new Date(iso);
  return d.getFullYear() * 10000 + (d.getMonth() + 1) * 100 + d.getDate();
}

/** "Today", "Yesterday" or the full date, for day separators. */
export function dayLabel(iso) {
  const key = dayKey(iso);
  const now = new Date();
  if (key === dayKey(now.toISOString())) return 'Today';
  const y = new Date(now.getTime() - 86400000);
  if (key === dayKey(y.toISOString())) return 'Yesterday';
  return dayFmt.format(new Date(iso));
}

/** Hours and minutes of a timestamp. */
export function clock(iso) {
  return iso ? timeFmt.format(new Date(iso)) : '';
}

/** A short time for lists: the clock today, else the date. */
export function shortTime(iso) {
  if (!iso) return '';
  return dayKey(iso) === dayKey(new Date().toISOString()) ? clock(iso) : shortFmt.format(new Date(iso));
}

/** "5 minutes ago" style relative time. */
export function ago(iso) {
  if (!iso) return 'never';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** One or two initials for an avatar. */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const first = parts[0] ? [...parts[0]][0] : '?';
  const second = parts.length > 1 ? [...parts[parts.length - 1]][0] : '';
  return (first + second).toUpperCase();
}

/** A stable colour class for an id. */
export function colorClass(id) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return 'c' + (h % 6);
}

/** The Instagram reply window: open while the contact's last message is under `hours`
 * old (24; a person's reply may have 168 when the server allows the HUMAN_AGENT tag). */
export const WINDOW_MS = 24 * 3600 * 1000;
export function windowOpen(lastInboundAt, now = Date.now(), hours = 24) {
  return !!lastInboundAt && now - new Date(lastInboundAt).getTime() < hours * 3600 * 1000;
}

/** A login's device as people say it ("Chrome on Linux") from a User-Agent string. */
export function deviceName(ua) {
  ua = ua || '';
  const browser = /Edg\//.test(ua) ? 'Edge' : /OPR\//.test(ua) ? 'Opera' : /Firefox\//.test(ua) ? 'Firefox'
    : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad|iPod/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X/.test(ua) ? 'macOS' : /CrOS/.test(ua) ? 'ChromeOS' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}
