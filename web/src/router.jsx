// A small path router on the History API: parleyd answers every non-API path with
// index.html, so /inbox, /c/<id> and the others survive a reload.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

/** Goes to a path inside the app without reloading. */
export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  for (const fn of listeners) fn();
}

addEventListener('popstate', () => {
  for (const fn of listeners) fn();
});

/** The current path, re-rendering the caller when it changes. */
export function usePath() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const fn = () => setPath(location.pathname);
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return path;
}

/** Matches "/c/:id" style patterns; returns the parameters or null. */
export function match(pattern, path) {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

/** An <a> that navigates inside the app; ordinary clicks with modifiers open tabs. */
export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
    if (rest.onNavigate) rest.onNavigate();
  };
  const { onNavigate, ...props } = rest;
  return <a href={href} onClick={onClick} {...props}>{children}</a>;
}
