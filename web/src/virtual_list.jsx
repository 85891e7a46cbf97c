// A list of fixed-height rows that renders only the rows in view (plus a margin), so a
// list of thousands costs the same to scroll as a list of twenty. Calls onEnd when
// the reader nears the bottom, for the next page.
import { useEffect, useRef, useState } from 'preact/hooks';

const OVERSCAN = 10;
const BLOCK = 10; // the rendered range moves in steps of this many rows

export function VirtualList({ items, rowHeight, renderRow, onEnd, label, footer }) {
  const box = useRef(null);
  // Only the block-rounded range is state: scrolling within it renders nothing.
  const [view, setView] = useState({ top: 0, height: 600 });

  useEffect(() => {
    const el = box.current;
    let frame = 0;
    const update = () => {
      frame = 0;
      const top = Math.floor(el.scrollTop / (rowHeight * BLOCK)) * rowHeight * BLOCK;
      const height = Math.ceil((el.clientHeight || 600) / (rowHeight * BLOCK) + 1) * rowHeight * BLOCK;
      setView((v) => (v.top === top && v.height === height ? v : { top, height }));
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
    <div class="vlist" ref={box} data-test="vlist">
      <div class="vlist-inner" style={{ height: `${total}px` }}>
        <div class="vlist-rows" role="list" aria-label={label} style={{ transform: `translateY(${first * rowHeight}px)` }}>
          {rows}
        </div>
      </div>
      {footer}
    </div>
  );
}
