// A list of fixed-height rows that renders only the rows in view (plus a margin), so a
// list of thousands costs the same to scroll as a list of twenty. Calls onEnd when
// the reader nears the bottom, for the next page.
import { useEffect, useRef, useState } from 'preact/hooks';

const OVERSCAN = 8;

export function VirtualList({ items, rowHeight, renderRow, onEnd, label, footer }) {
  const box = useRef(null);
  const [view, setView] = useState({ top: 0, height: 600 });

  useEffect(() => {
    const el = box.current;
    let frame = 0;
    const update = () => {
      frame = 0;
      setView({ top: el.scrollTop, height: el.clientHeight || 600 });
    };
    const onScroll = () => {
      if (!frame) frame = requestAnimationFrame(update);
    };
    update();
    el.addEventListener('scroll', onScroll, { passive: true });
    const ro = typeof ResizeObserver === 'function' ? new ResizeObserver(onScroll) : null;
    if (ro) ro.observe(el);
    return () => {
      el.removeEventListener('scroll', onScroll);
      if (ro) ro.disconnect();
      if (frame) cancelAnimationFrame(frame);
    };
  }, []);

  const total = items.length * rowHeight;
  const first = Math.max(0, Math.floor(view.top / rowHeight) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((view.top + view.height) / rowHeight) + OVERSCAN);

  useEffect(() => {
    if (onEnd && last >= items.length - OVERSCAN) onEnd();
  }, [last, items.length]);

  const rows = [];
  for (let i = first; i < last; i++) rows.push(renderRow(items[i], i));
  return (
    <div class="vlist" ref={box} role="list" aria-label={label} data-test="vlist">
      <div class="vlist-inner" style={{ height: `${total}px` }}>
        <div class="vlist-rows" style={{ transform: `translateY(${first * rowHeight}px)` }}>{rows}</div>
      </div>
      {footer}
    </div>
  );
}
