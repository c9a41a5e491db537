// The sign-in page: username and password, then a TOTP code when the
// server asks; an administrator without a second factor enrols one first;
// "Sign in with …" for the configured identity providers; and an access
// token (API key, `http.bearer_token`) for servers and scripts that use one.
// Nothing typed here goes into a URL or localStorage; a token stays in
// sessionStorage for this tab only.

import { ApiError, api } from './api';
import { clear, h } from './dom';
import { t } from './i18n';
import { Me } from './session';

interface Provider {
  name: string;
  login_url: string;
}

/** Render the sign-in page into `root`; `done` runs once signed in. */
export function renderLogin(root: HTMLElement, done: () => void, message?: string): void {
  clear(root);
  const error = h('div', { class: 'login-error', role: 'alert', 'data-testid': 'login-error' });
  const showError = (m: string) => { error.textContent = m; };
  if (message) showError(message);
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, 'data-testid': 'login-username' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const code = h('input', { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: 6, 'data-testid': 'login-totp' });
  const codeRow = h('label', { hidden: true, 'data-testid': 'login-totp-row' }, t('totpCode'), code);
  const submit = h('button', { type: 'submit', 'data-testid': 'login-submit' }, t('signIn'));
  const form = h('form', {
    // POST: were the script ever to let the browser submit, nothing typed
    // would land in a URL.
    class: 'login-form', method: 'post', 'data-testid': 'login-form',
    onsubmit: async (e: Event) => {
      e.preventDefault();
      showError('');
      submit.disabled = true;
      try {
        const body: Record<string, string> = { username: username.value.trim(), password: password.value };
        if (!codeRow.hidden && code.value.trim()) body.totp = code.value.trim();
        const me = await api<Me>('POST', '/api/auth/login', body);
        password.value = '';
        if (me.needs_totp_enrolment) renderEnrolment(root, done);
        else done();
      } catch (err) {
        if (err instanceof ApiError && err.body.totp_required) {
          // A second factor: the same form with a code field.
          const first = codeRow.hidden;
          codeRow.hidden = false;
          code.focus();
          if (!first) showError(err.message);
        } else {
          showError(loginError(err));
        }
      } finally {
        submit.disabled = false;
      }
    },
  },
    h('label', {}, t('username'), username),
    h('label', {}, t('password'), password),
    codeRow,
    submit,
  );
  const providers = h('div', { class: 'providers', 'data-testid': 'login-providers' });
  void api<{ providers: Provider[] }>('GET', '/api/auth/providers').then((p) => {
    for (const provider of p.providers ?? []) {
      // A plain link: the provider's pages take over the tab, and its
      // redirect back sets the session cookie.
      providers.append(h('a', { class: 'provider', href: new URL(provider.login_url, location.origin).pathname, 'data-provider': provider.name },
        t('signInWith', { name: provider.name })));
    }
  }).catch(() => { /* no identity providers */ });
  root.append(h('section', { class: 'login', 'data-testid': 'login' },
    h('h1', {}, t('signInTitle')),
    form,
    error,
    providers,
    tokenForm(done, showError),
  ));
  username.focus();
}

function loginError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 404 || err.status === 405) return t('noPasswordSignIn');
    if (err.status === 0) return t('error', { m: err.message });
    return err.message;
  }
  return t('error', { m: (err as Error).message });
}

/** An access token instead of a password: checked with whoami before it is kept. */
function tokenForm(done: () => void, showError: (m: string) => void): HTMLElement {
  const token = h('input', { name: 'token', type: 'password', autocomplete: 'off', 'data-testid': 'login-token' });
  return h('details', { class: 'token', 'data-testid': 'login-token-section' },
    h('summary', {}, t('useToken')),
    h('form', {
      class: 'login-form', method: 'post',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        showError('');
        const value = token.value.trim();
        if (!value) return;
        sessionStorage.setItem('yunying.token', value);
        try {
          await api('GET', '/api/access/whoami');
          token.value = '';
          done();
        } catch (err) {
          const status = err instanceof ApiError ? err.status : 0;
          if (status === 404) {
            // A server without the access API: DICOMweb decides.
            token.value = '';
            done();
            return;
          }
          sessionStorage.removeItem('yunying.token');
          showError(t('tokenRefused', { m: (err as Error).message }));
        }
      },
    },
      h('label', {}, t('tokenLabel'), token),
      h('button', { type: 'submit', 'data-testid': 'login-token-submit' }, t('useTokenButton')),
    ),
  );
}

/**
 * An administrator's first sign-in: the server gave a session that may only
 * enrol a second factor. Show the secret (as the otpauth URI, and base32 to
 * type into an app), then confirm with a code; the server ends the
 * enrolment session and begins a full one.
 */
export function renderEnrolment(root: HTMLElement, done: () => void): void {
  clear(root);
  const error = h('div', { class: 'login-error', role: 'alert', 'data-testid': 'login-error' });
  const uri = h('code', { class: 'secret', 'data-testid': 'totp-uri' });
  const secret = h('code', { class: 'secret', 'data-testid': 'totp-secret' });
  const code = h('input', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, required: true, 'data-testid': 'enrol-code' });
  const submit = h('button', { type: 'submit', 'data-testid': 'enrol-submit' }, t('confirm'));
  root.append(h('section', { class: 'login', 'data-testid': 'enrol' },
    h('h1', {}, t('enrolTitle')),
    h('p', {}, t('enrolExplain')),
    h('p', {}, t('enrolUri'), h('br'), uri),
    h('p', {}, t('enrolSecret'), h('br'), secret),
    h('form', {
      class: 'login-form', method: 'post',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        error.textContent = '';
        submit.disabled = true;
        try {
          await api('POST', '/api/auth/totp/confirm', { code: code.value.trim() });
          done();
        } catch (err) {
          error.textContent = (err as Error).message;
        } finally {
          submit.disabled = false;
        }
      },
    }, h('label', {}, t('totpCode'), code), submit),
    error,
    h('button', { type: 'button', 'data-testid': 'enrol-cancel', onclick: async () => {
      await api('POST', '/api/auth/logout').catch(() => undefined);
      done();
    } }, t('logout')),
  ));
  api<{ secret: string; uri: string }>('POST', '/api/auth/totp/enroll').then((e) => {
    uri.textContent = e.uri;
    secret.textContent = e.secret.replace(/(.{4})/g, '$1 ').trim();
    code.focus();
  }).catch((err) => { error.textContent = (err as Error).message; });
}
