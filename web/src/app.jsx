// The app's frame: the login gate, the navigation, and which screen the path shows.
// The flow builder is loaded only when its screen is opened (a separate chunk).
import { lazy, Suspense } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import { auth, client } from './client.js';
import { Link, match, navigate, usePath } from './router.jsx';
import { useStore } from './store.js';
import { AuthPage } from './login.jsx';
import { VerifyEmailPage } from './verify_email.jsx';
import { ResetPasswordPage } from './reset_password.jsx';
import { InboxPage } from './inbox.jsx';
import { ContactsPage } from './contacts.jsx';
import { SettingsPage } from './settings.jsx';
import { InstagramConnectPage } from './instagram_connect.jsx';
import { DashboardPage } from './dashboard.jsx';
import { StatusMenu } from './status_menu.jsx';
import { ChannelsPage, JoinPage } from './channels.jsx';
import { CallBar } from './calls.jsx';

const FlowsPage = lazy(() => import('./flows/index.jsx'));

const NAV = [
  ['/dashboard', 'Dashboard'],
  ['/inbox', 'Inbox'],
  ['/channels', 'Channels'],
  ['/contacts', 'Contacts'],
  ['/flows', 'Flows'],
  ['/settings', 'Settings'],
];

export function App() {
  const store = useStore();
  const [verifyLater, setVerifyLater] = useState(() => sessionStorage.getItem('parley.verifyLater') === '1');
  const path = usePath();
  const [state, setState] = useState(auth.loggedIn() ? 'in' : 'out');
  const [message, setMessage] = useState('');
  // The e-mail and password of a login waiting for its address to be verified.
  const [pending, setPending] = useState(null);

  useEffect(() => auth.onEnd((reason) => {
    setMessage(reason);
    setState('out');
    navigate('/login', { replace: true });
  }), []);

  useEffect(() => {
    if (state === 'in') auth.start();
  }, [state]);

  const loggedIn = (next) => {
    setMessage('');
    setPending(null);
    setState('in');
    navigate(next || '/inbox', { replace: true });
  };
  if (state !== 'in') {
    if (path === '/forgot-password' || path === '/reset-password') return <ResetPasswordPage onDone={() => loggedIn(null)} />;
    if (path === '/verify-email') {
      return <VerifyEmailPage pending={pending} onVerified={async () => {
        await auth.login(pending.email, pending.password);
        loggedIn(null);
      }} />;
    }
    return <AuthPage message={message} onDone={(next) => {
      if (next || path === '/' || path === '/login' || path === '/signup') loggedIn(next);
      else { setMessage(''); setState('in'); }
    }} onUnverified={(email, password) => {
      setPending({ email, password });
      navigate('/verify-email');
    }} />;
  }
  if (path === '/verify-email') return <VerifyEmailPage onVerified={() => navigate('/inbox', { replace: true })} />;
  if (path === '/' || path === '/login' || path === '/signup' || path === '/forgot-password' || path === '/reset-password') {
    navigate('/inbox', { replace: true });
    return null;
  }

  let page;
  let m;
  if ((m = match('/c/:id', path))) page = <InboxPage openId={m.id} />;
  else if (path === '/inbox') page = <InboxPage openId={null} />;
  else if (path === '/inbox/instagram') page = <InboxPage openId={null} filter="instagram" />;
  else if (path === '/channels') page = <ChannelsPage />;
  else if ((m = match('/join/:token', path))) page = <JoinPage token={m.token} />;
  else if (path === '/contacts') page = <ContactsPage />;
  else if (path === '/settings') page = <SettingsPage />;
  else if (path === '/instagram/connect') page = <InstagramConnectPage />;
  else if (path === '/dashboard') page = <DashboardPage />;
  else if (path === '/flows' || path.startsWith('/flows/')) {
    page = (
      <Suspense fallback={<p class="page muted">Loading the flow builder…</p>}>
        <FlowsPage client={client} flowId={path.split('/')[2] ? decodeURIComponent(path.split('/')[2]) : undefined}
          navigate={navigate} />
      </Suspense>
    );
  } else page = <div class="page"><h1>Not found</h1><p>There is no page at this address.</p><Link href="/inbox">Go to the inbox</Link></div>;

  const unread = store.unreadTotal();
  const unreadText = unread.complete ? `${unread.n}` : `${unread.n}+`;
  const current = '/' + (path.split('/')[1] || '');
  return (
    <div class="shell">
      <nav class="nav" aria-label="Main">
        <div class="brand">Parley</div>
        {NAV.map(([href, label]) => (
          <Link key={href} href={href}
            aria-current={current === href || (href === '/inbox' && current === '/c') ? 'page' : undefined}>
            <span>{label}</span>
            {href === '/inbox' && unread.n > 0 && (
              <span class="unread" aria-label={`${unread.complete ? '' : 'at least '}${unread.n} unread`}>{unreadText}</span>
            )}
          </Link>
        ))}
        <StatusMenu />
      </nav>
      <main class="main" id="main">
        {store.connection !== 'online' && store.me && (
          <div class="banner" role="status" data-test="conn-banner">
            {store.connection === 'connecting' ? 'Connecting…' : 'Reconnecting to the server…'}
          </div>
        )}
        {store.me && store.me.email_verified === false && !verifyLater && path !== '/verify-email' && (
          <div class="banner" role="status" data-test="verify-banner">
            Verify your e-mail address: we mailed a code to {store.me.email}.{' '}
            <Link href="/verify-email" data-test="verify-banner-open">Enter the code</Link>{' · '}
            <a href="#" data-test="verify-banner-later" onClick={(e) => {
              e.preventDefault();
              sessionStorage.setItem('parley.verifyLater', '1');
              setVerifyLater(true);
            }}>Later</a>
          </div>
        )}
        <CallBar />
        {page}
      </main>
    </div>
  );
}
