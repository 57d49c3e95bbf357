// login.js - the sign-in page (POST /auth/login; the session is an HttpOnly cookie).
import { h, mount, field } from '../dom.js';
import { login, ApiError } from '../api.js';
import { ready } from '../page.js';

export function render(main, ctx) {
  const user = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const msg = h('p', { class: 'form-error', role: 'alert', 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in');
  const form = h('form', { class: 'login-form', on: { submit: onSubmit } },
    h('div', { class: 'login-brand' }, h('img', { src: '/assets/favicon.svg', alt: '', width: 36, height: 36 }), h('span', 'Stampede')),
    h('h1', 'Sign in'),
    field('User name', user).wrap,
    field('Password', pass).wrap,
    msg,
    submit);

  async function onSubmit(e) {
    e.preventDefault();
    msg.textContent = '';
    submit.disabled = true;
    try {
      await login(user.value.trim(), pass.value);
      ctx.onLogin(ctx.query.get('next'));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) msg.textContent = 'The user name or password is wrong.';
      else if (err instanceof ApiError && err.status === 429) {
        msg.textContent = err.retryAfter
          ? `Too many attempts. Try again in ${err.retryAfter} second${err.retryAfter === 1 ? '' : 's'}.`
          : 'Too many attempts. Wait a little and try again.';
      }
      else msg.textContent = `Sign in failed: ${err.message}`;
      pass.select();
    } finally {
      submit.disabled = false;
    }
  }

  mount(main, h('section', { class: 'login-page' }, form));
  // No focus is taken: the first Tab reaches the skip link, the next ones the form.
  ready('login');
  return () => {};
}
