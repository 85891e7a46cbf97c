// Files in the composer before they are sent: each picked, dropped or pasted file
// uploads at once with a progress bar; a refused one shows the server's reason and
// can be removed. useUploads() holds the list; <PendingFiles> draws it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { uploadFile } from './client.js';

export const FILES_MAX = 10; // attachment_ids per message (docs/API.md)

/** "1.2 MB", "640 KB", "12 B". */
export function fileSize(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)} MB`;
  if (n >= 1e3) return `${Math.round(n / 1e3)} KB`;
  return `${n} B`;
}

function reason(e) {
  if (e && e.code === 'payload_too_large') return `Too large: ${e.message}`;
  if (e && e.code === 'quota_exceeded') return `No room left: ${e.message}`;
  if (e && e.code === 'unsupported_media_type') return `Not accepted: ${e.message}`;
  return (e && e.message) || 'The upload failed';
}

let seq = 0;

/** The composer's files: [{key, name, size, sent, total, att?, error?}] and what changes them. */
export function useUploads() {
  const [items, setItems] = useState([]);
  const aborts = useRef(new Map());
  useEffect(() => () => aborts.current.forEach((a) => a.abort()), []);
  const patch = (key, change) => setItems((list) => list.map((x) => (x.key === key ? { ...x, ...change } : x)));

  function add(files) {
    const list = [...files].filter((f) => f && typeof f.size === 'number');
    for (const file of list) {
      const key = ++seq;
      const ctl = typeof AbortController === 'function' ? new AbortController() : null;
      if (ctl) aborts.current.set(key, ctl);
      setItems((cur) => (cur.length >= FILES_MAX ? cur
        : [...cur, { key, name: file.name || 'pasted file', size: file.size, sent: 0, total: file.size }]));
      uploadFile(file, {
        signal: ctl ? ctl.signal : undefined,
        onProgress: (sent, total) => patch(key, { sent, total }),
      }).then(
        (att) => patch(key, { att, sent: file.size }),
        (e) => { if (!e || e.code !== 'aborted') patch(key, { error: reason(e) }); },
      ).finally(() => aborts.current.delete(key));
    }
  }

  function remove(key) {
    const ctl = aborts.current.get(key);
    if (ctl) ctl.abort();
    setItems((cur) => cur.filter((x) => x.key !== key));
  }

  return {
    items,
    add,
    remove,
    clear: () => setItems([]),
    ready: items.filter((x) => x.att).map((x) => x.att),
    busy: items.some((x) => !x.att && !x.error),
  };
}

export function PendingFiles({ uploads }) {
  if (!uploads.items.length) return null;
  return (
    <ul class="pending-files" aria-label="Files to send" data-test="pending-files">
      {uploads.items.map((x) => (
        <li key={x.key} class={`pending-file${x.error ? ' failed' : ''}`} data-test="pending-file">
          <span class="pf-name">{x.name}</span>
          <span class="pf-size muted small">{fileSize(x.size)}</span>
          {!x.att && !x.error && (
            <progress max={x.total || 1} value={x.sent} aria-label={`Uploading ${x.name}`} data-test="upload-progress" />
          )}
          {x.att && <span class="pf-done small" data-test="upload-done">Ready</span>}
          {x.error && <span class="error-text small" role="alert" data-test="upload-error">{x.error}</span>}
          <button type="button" class="icon" aria-label={`Remove ${x.name}`} onClick={() => uploads.remove(x.key)}
            data-test="pending-file-remove">✕</button>
        </li>
      ))}
    </ul>
  );
}
