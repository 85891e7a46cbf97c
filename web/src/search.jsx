// Message search in the inbox's sidebar: a search box whose results (best matches
// first, paged by cursor) replace the conversation list while a query is open. Each
// result shows its conversation, sender, time and the server's snippet, with the
// highlighted words drawn from the code-point ranges (never from markup); choosing
// one opens its conversation at that message.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './client.js';
import { shortTime } from './format.js';
import { navigate } from './router.jsx';
import { store } from './store.js';

const MAX_CHARS = 256;
const DEBOUNCE_MS = 300;

/**
 * Splits text into plain and highlighted parts from [start, end) code-point ranges;
 * ranges that overlap, run backwards or leave the text are skipped.
 * @returns {{text: string, hit: boolean}[]}
 */
export function highlightParts(text, ranges) {
  const cps = Array.from(text || '');
  const parts = [];
  let at = 0;
  for (const [a, b] of [...(ranges || [])].sort((x, y) => x[0] - y[0])) {
    if (!(a >= at && b > a && b <= cps.length)) continue;
    if (a > at) parts.push({ text: cps.slice(at, a).join(''), hit: false });
    parts.push({ text: cps.slice(a, b).join(''), hit: true });
    at = b;
  }
  if (at < cps.length) parts.push({ text: cps.slice(at).join(''), hit: false });
  return parts;
}

/** What is wrong with a query before asking the server, or ''. */
function queryProblem(q) {
  if (Array.from(q).length > MAX_CHARS) return `A search is at most ${MAX_CHARS} characters.`;
  if (!/[\p{L}\p{N}]/u.test(q)) return 'Type a word to search for.';
  return '';
}

function Snippet({ snippet }) {
  return (
    <span class="search-snippet" data-test="search-snippet">
      {highlightParts(snippet.text, snippet.highlights).map((p) => (p.hit ? <mark>{p.text}</mark> : p.text))}
    </span>
  );
}

function open(hit) {
  store.focus = { conv: hit.conversation_id, seq: hit.message.seq };
  navigate(`/c/${encodeURIComponent(hit.conversation_id)}`);
  store.changed();
}

function ResultRow({ hit }) {
  const c = store.convs.get(hit.conversation_id);
  const title = c ? store.title(c) : 'Conversation';
  const own = store.me && hit.message.sender_id === store.me.id;
  return (
    <li>
      <button type="button" class="search-hit" data-test="search-hit" data-seq={hit.message.seq}
        onClick={() => open(hit)}>
        <span class="conv-top">
          <span class="conv-name">{title}</span>
          <span class="conv-time">{shortTime(hit.message.created_at)}</span>
        </span>
        <span class="small muted">{own ? 'You' : store.userName(hit.message.sender_id)}</span>
        <Snippet snippet={hit.snippet} />
      </button>
    </li>
  );
}

/** The search box; onActive(true) while results (or their loading) replace the list. */
export function MessageSearch({ onActive }) {
  const [q, setQ] = useState('');
  const [hits, setHits] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [status, setStatus] = useState('');
  const asked = useRef(0); // the latest query's number: older answers are dropped
  const timer = useRef(null);

  const run = async (query, after) => {
    const n = ++asked.current;
    setStatus('Searching…');
    try {
      const r = await api.searchMessages(query, { limit: 20, cursor: after || undefined });
      if (n !== asked.current) return;
      setHits((old) => (after ? old.concat(r.results) : r.results));
      setCursor(r.next_cursor);
      setStatus(!after && r.results.length === 0 ? 'No messages match.' : '');
    } catch (e) {
      if (n === asked.current) setStatus((e && e.message) || 'Search failed');
    }
  };

  useEffect(() => () => clearTimeout(timer.current), []);

  const change = (value) => {
    setQ(value);
    clearTimeout(timer.current);
    const query = value.trim();
    onActive(query !== '');
    if (!query) {
      asked.current++;
      setHits([]);
      setCursor(null);
      setStatus('');
      return;
    }
    const problem = queryProblem(query);
    if (problem) {
      asked.current++;
      setHits([]);
      setCursor(null);
      setStatus(problem);
      return;
    }
    timer.current = setTimeout(() => run(query), DEBOUNCE_MS);
  };

  return (
    <div class="message-search">
      <form role="search" onSubmit={(e) => { e.preventDefault(); change(q); }}>
        <input type="search" value={q} placeholder="Search messages" aria-label="Search messages"
          data-test="search-input" onInput={(e) => change(e.currentTarget.value)} />
      </form>
      {q.trim() !== '' && (
        <div class="search-results" data-test="search-results">
          <ul aria-label="Search results">
            {hits.map((hit) => <ResultRow key={hit.message.id} hit={hit} />)}
          </ul>
          <div class="list-status" aria-live="polite" data-test="search-status">{status}</div>
          {cursor && <button type="button" onClick={() => run(q.trim(), cursor)} data-test="search-more">More results</button>}
        </div>
      )}
    </div>
  );
}
