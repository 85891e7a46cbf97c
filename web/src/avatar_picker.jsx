// An avatar picker for the profile and a group's details: the current picture (or
// initials), a file button that uploads an image through the composer's upload path
// and shows it at once from the file itself (a blob: URL, which the CSP allows), then
// makes it the avatar; and Remove. The server keeps the thumbnail and signs its URL.
import { useEffect, useRef, useState } from 'preact/hooks';
import { uploadFile } from './client.js';
import { Avatar } from './inbox.jsx';

/**
 * current: the avatar_url shown now (null: initials); name and id: for the initials;
 * save(attachmentId | null): a promise that sets or removes it (the caller stores the
 * answer); label: what the picture belongs to, for screen readers.
 */
export function AvatarPicker({ current, name, id, save, label, testId }) {
  const [preview, setPreview] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  const input = useRef(null);
  // A preview's blob URL is released once it is replaced or the picker goes.
  useEffect(() => () => { if (preview) URL.revokeObjectURL(preview); }, [preview]);

  async function pick(file) {
    if (!file) return;
    setError('');
    setNote('');
    if (file.type && !file.type.startsWith('image/')) {
      setError('Choose an image (JPEG, PNG, GIF, WebP).');
      return;
    }
    setPreview(URL.createObjectURL(file));
    setBusy(true);
    try {
      const att = await uploadFile(file);
      await save(att.id);
      setNote('Picture updated.');
    } catch (e) {
      setError(e.code === 'not_found' ? 'That file is not an image Parley can read.' : (e.message || 'The upload failed'));
    } finally {
      setPreview(null);
      setBusy(false);
      if (input.current) input.current.value = '';
    }
  }

  async function remove() {
    setError('');
    setNote('');
    setBusy(true);
    try {
      await save(null);
      setNote('Picture removed.');
    } catch (e) {
      setError(e.message || 'Could not remove the picture');
    } finally {
      setBusy(false);
    }
  }

  const fileId = `${testId}-file`;
  return (
    <div class="avatar-picker" data-test={testId}>
      <Avatar name={name} id={id} pic={preview || current} size="large" />
      <div class="avatar-picker-actions">
        <input id={fileId} ref={input} type="file" accept="image/*" class="sr-only" disabled={busy}
          aria-label={`Choose a picture for ${label}`} data-test={`${testId}-input`}
          onChange={(e) => pick(e.currentTarget.files && e.currentTarget.files[0])} />
        <label for={fileId} class={`button${busy ? ' disabled' : ''}`}>{current ? 'Change picture' : 'Add picture'}</label>
        {current && !preview && (
          <button type="button" disabled={busy} onClick={remove} data-test={`${testId}-remove`}>Remove</button>
        )}
        <p aria-live="polite" class="muted small">{busy ? 'Uploading…' : note}</p>
        {error && <p class="error-text" role="alert">{error}</p>}
      </div>
    </div>
  );
}
