/** @jsxRuntime classic */
/** @jsx h */
// The flow builder's entry, loaded lazily by the app: the list of flows, or
// one flow in the builder. Props: `client` (the SDK's), `flowId` (undefined
// for the list, "new" for a new flow, else the id), `navigate(path)`.
import '@xyflow/react/dist/style.css';
import './flows.css';

import { h } from 'preact';
import { useMemo } from 'preact/hooks';

import { flowsApi } from './api.js';
import { FlowEditor } from './editor.jsx';
import { FlowList } from './list.jsx';

export default function FlowsScreen({ client, flowId, navigate }) {
  const api = useMemo(() => flowsApi(client), [client]);
  return (
    <div class="flows">
      {flowId ? (
        <FlowEditor
          api={api}
          flowId={flowId === 'new' ? null : flowId}
          onSaved={(f) => navigate(`/flows/${encodeURIComponent(f.id)}`, { replace: true })}
          onBack={() => navigate('/flows')}
        />
      ) : (
        <FlowList api={api} onOpen={(id) => navigate(`/flows/${encodeURIComponent(id)}`)} onNew={() => navigate('/flows/new')} />
      )}
    </div>
  );
}
